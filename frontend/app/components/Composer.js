// Composer: Enter sends, Shift+Enter starts a new line; IME composition never sends.
import { ref, onMounted } from "vue";

export default {
  name: "Composer",
  props: { title: { type: String, required: true } },
  emits: ["send", "typing"],
  setup(_props, { emit }) {
    const text = ref("");
    const input = ref(null);
    function submit() {
      const value = text.value.trim();
      if (!value) return;
      emit("send", value);
      text.value = "";
      input.value && input.value.focus();
    }
    function onKey(event) {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        submit();
      }
    }
    onMounted(() => input.value && input.value.focus());
    return { text, input, submit, onKey };
  },
  template: `
    <form class="composer" @submit.prevent="submit">
      <label for="composer-input" class="sr-only">Message to {{ title }}</label>
      <textarea id="composer-input" ref="input" v-model="text" rows="2"
                placeholder="Write a message" aria-describedby="composer-help"
                @keydown="onKey" @input="$emit('typing')"></textarea>
      <button type="submit" :disabled="!text.trim()">Send</button>
      <p id="composer-help" class="help">Enter sends · Shift+Enter adds a line</p>
    </form>`,
};
