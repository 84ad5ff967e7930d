// @dtf/aggregator's public entry: the aggregator and the rules it applies.
export { Aggregator, type AggregatorCounters, type AggregatorOptions, runAggregator } from "./aggregator.ts";
export { expectedEvaluations } from "./rules.ts";
