// Types of scripts/node-runtime.js (plain JavaScript, so that an old Node runs it), for the tests.
export interface FoundNode {
  path: string;
  version: string;
}
export const MINIMUM: string;
export const NODE_PACKAGE: string;
export function isSupported(version: string): boolean;
export function nodeCacheDir(env?: NodeJS.ProcessEnv): string;
export function cachedNode(env?: NodeJS.ProcessEnv): FoundNode | undefined;
export function supportedNode(env?: NodeJS.ProcessEnv): FoundNode | undefined;
export function underNotice(node: FoundNode): string;
export function tooOldMessage(env?: NodeJS.ProcessEnv): string;
export function installNode(env?: NodeJS.ProcessEnv, log?: (line: string) => void): FoundNode;
export function runUnder(nodePath: string, args: string[], env?: NodeJS.ProcessEnv): void;
