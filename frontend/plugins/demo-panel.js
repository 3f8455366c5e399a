// Demo plugin UI module: proves that a module listed by GET /api/ui-modules is mapped into the
// import map ("parley-ui/demo-panel"), imported by that bare name and mounted in its slot.
// It imports "vue" by its bare name too, so it shares the page's Vue through the first map.
import { computed } from "vue";

export default {
  name: "DemoPanel",
  props: { context: { type: Object, required: true } },
  setup(props) {
    const summary = computed(() => {
      const c = props.context;
      const thread = c.activeTitle ? `“${c.activeTitle}”` : "no thread open";
      return `${c.userName || "nobody"} · ${thread} · ${c.connection}`;
    });
    return { summary };
  },
  template: `
    <section class="demo-panel" data-testid="demo-panel" aria-labelledby="demo-panel-title">
      <h3 id="demo-panel-title">Demo plugin</h3>
      <p>Loaded at run time as <code>parley-ui/demo-panel</code>.</p>
      <p class="demo-panel-summary">{{ summary }}</p>
    </section>`,
};
