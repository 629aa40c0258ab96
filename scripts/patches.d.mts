// Types of scripts/patches.mjs, for the fast test that checks every patch against the installed dependency.
export interface Patch {
  module: string
  version: string
  file: string
  why: string
  edits: [find: string, replace: string][]
}
export const PATCHES: Patch[]
export function applyPatch(patch: Patch, text: string): string
export function patchDependencies(): { name: string; setup(build: unknown): void }
