/** Bundles `entry` (a .ts file) into `outfile` (.mjs) and returns `outfile`. */
export function bundle(entry: string, outfile: string): string;
export function buildCliBundle(): string;
export function removeCliBundle(path: string): void;
