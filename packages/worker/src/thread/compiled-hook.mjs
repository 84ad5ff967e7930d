// A module resolve hook that adds the `dtf:compiled` export condition, so that @dtf/* packages
// resolve to their compiled dist/ JavaScript (npm run build) instead of their TypeScript sources.
// Registered by `dtf` and by each pool thread when they run compiled.
export async function resolve(specifier, context, nextResolve) {
  return nextResolve(specifier, { ...context, conditions: [...context.conditions, "dtf:compiled"] });
}
