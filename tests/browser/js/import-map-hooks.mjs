// Node module hooks that resolve bare names the way frontend/index.html's import map does, so
// the app's modules load unchanged under `node --test`. "vue" becomes a tiny stand-in: the
// state logic is under test here, not Vue's reactivity (the browser tests cover rendering).
const FRONTEND = new URL("../../../frontend/", import.meta.url);
const VUE_STANDIN = "data:text/javascript,export const reactive = (x) => x; export const markRaw = (x) => x;";

export async function resolve(specifier, context, next) {
  if (specifier === "vue") return { url: VUE_STANDIN, shortCircuit: true };
  if (specifier.startsWith("parley/")) {
    const url = new URL(`app/${specifier.slice("parley/".length)}`, FRONTEND).href;
    return { url, shortCircuit: true };
  }
  if (specifier === "@cfworker/json-schema") {
    return { url: new URL("vendor/cfworker-json-schema/index.js", FRONTEND).href, shortCircuit: true };
  }
  if (specifier === "markdown-it") {
    return { url: new URL("vendor/markdown-it.mjs", FRONTEND).href, shortCircuit: true };
  }
  return next(specifier, context);
}
