/** Old path kept for bench/ only, until it imports ./commands/replay.ts (docs/cli.md): delete this file then. */
export { mapLookup, type ReplayFlags, runReplay } from './commands/replay.ts';
