// Where plugin UI modules mount: every loaded module whose slot matches `name`.
import { computed, inject } from "vue";

export default {
  name: "PluginSlot",
  props: { name: { type: String, required: true } },
  setup(props) {
    const modules = inject("uiModules");
    const context = inject("uiContext");
    const mine = computed(() => modules.value.filter((m) => m.slot === props.name && m.component));
    return { mine, context };
  },
  template: `
    <div v-if="mine.length" class="plugin-slot" :data-slot="name">
      <component v-for="m in mine" :key="m.name" :is="m.component" :context="context"
                 :data-ui-module="m.name" :data-loaded-via="m.via" />
    </div>`,
};
