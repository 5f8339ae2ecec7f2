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

export interface Scp03Step {
  plain: string;
  wrapped: string;
  card_sees?: string;
  rsp_wrapped?: string;
  rsp_plain?: string;
  sw?: string;
  label?: string;
}

export interface Scp03Session {
  name: string;
  enc: string;
  mac: string;
  dek: string;
  kvn: string;
  i: string;
  level: string;
  s_mode: 8 | 16;
  host_challenge: string;
  init_update_cmd: string;
  init_update_rsp: string;
  kdd: string;
  card_challenge: string;
  seq?: string | null;
  ext_auth_cmd: string;
  s_enc: string;
  s_mac: string;
  host_cryptogram: string;
  pseudo_random_card_challenge?: { sd_aid: string };
  sd_aid?: string;
  steps: Scp03Step[];
}

export function scp03Vectors(): { sessions: Scp03Session[] } & Record<string, unknown> {
  return JSON.parse(readFileSync(new URL('scp03-vectors.json', FIXTURES), 'utf8'));
}

export interface Scp80Vector {
  id: string;
  kind: string;
  source?: unknown;
  // biome-ignore lint/suspicious/noExplicitAny: vector files differ by kind; each test reads its own fields
  inputs: Record<string, any>;
  // biome-ignore lint/suspicious/noExplicitAny: as above
  expected: Record<string, any>;
  notes?: string;
}

/** test/fixtures/scp80-vectors.json (from spec vectors/scp80.json: pySim, onomondo, OTAMan, NIST). */
export function scp80Vectors(kind?: string): Scp80Vector[] {
  const all: Scp80Vector[] = JSON.parse(
    readFileSync(new URL('scp80-vectors.json', FIXTURES), 'utf8'),
  ).vectors;
  return kind ? all.filter((v) => v.kind === kind) : all;
}

/** One vector's expected values by id (`bip-proactive-and-terminal-responses`, `scp81-trigger-tlvs`…). */
export function scp80Expected<T = Record<string, { hex: string }>>(id: string): T {
  const found = scp80Vectors().find((v) => v.id === id);
  if (!found) throw new Error(`no vector ${id}`);
  return found.expected as T;
}
