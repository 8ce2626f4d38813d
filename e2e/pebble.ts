// Pebble for the e2e tests: the same launcher the ACME integration tests use.
export { planPebble, startPebble, type PebblePlan, type RunningPebble, type Pebble } from '../test/acme/pebble.ts';
