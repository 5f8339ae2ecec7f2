// Loads the vector files kept in test/fixtures (copied from the shared references, sources included).
import { readFileSync } from 'node:fs';

const FIXTURES = new URL('../fixtures/', import.meta.url);

export interface IotSafeVector {
  id: string;
  kind: string;
  [key: string]: unknown;
}

export function iotsafeVectors(): IotSafeVector[] {
  return JSON.parse(readFileSync(new URL('iotsafe-vectors.json', FIXTURES), 'utf8')).vectors;
}

export function vector(id: string): IotSafeVector {
  const v = iotsafeVectors().find((x) => x.id === id);
  if (!v) throw new Error(`no vector ${id}`);
  return v;
}
