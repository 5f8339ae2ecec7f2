// Importing a SIM vendor's batch file into the inventory. Per row: every row that passes its checks
// (vendor-csv.ts, then against the store: an MSISDN another SIM holds) is imported, the others are
// reported with their line and reason; the rows imported are written in ONE transaction, so a failure
// while writing imports none of them. `atomic` makes it all or nothing per file: one rejected row and
// nothing is written. Idempotent: a row is an upsert by ICCID (a key set replaced keeps its counter,
// which never goes back), so importing a file twice leaves the store as once; the report tells
// created from updated SIMs, and the audit log records the file's SHA-256 and counts.
import { createHash } from 'node:crypto';
import { placeholders } from '../storage/engine.js';
import type { OtaStore } from '../storage/store.js';
import { parseVendorCsv, type RejectedRow, type VendorCsvOptions, type VendorEntry } from './vendor-csv.js';

export interface ImportOptions extends VendorCsvOptions {
  /** All or nothing per file: any rejected row and nothing is imported (default false: per row). */
  atomic?: boolean;
  /** Who imports (the audit log). */
  actor?: string;
}

export interface ImportReport {
  /** SHA-256 of the file, hex. */
  sha256: string;
  rows: number;
  imported: number;
  created: number;
  updated: number;
  rejected: RejectedRow[];
  /** True when `atomic` refused the file for its rejected rows (then imported is 0). */
  refused: boolean;
}

const CHUNK = 500;

export async function importVendorFile(
  store: OtaStore,
  text: string | Uint8Array,
  options: ImportOptions = {},
): Promise<ImportReport> {
  const sha256 = createHash('sha256').update(text).digest('hex');
  const parsed = parseVendorCsv(text, options);
  const rejected = [...parsed.rejected];
  const { accepted, existing } = await checkAgainstStore(store, parsed.entries, rejected);
  rejected.sort((a, b) => a.line - b.line);
  const refused = options.atomic === true && rejected.length > 0;
  const report: ImportReport = {
    sha256,
    rows: parsed.rows,
    imported: refused ? 0 : accepted.length,
    created: refused ? 0 : accepted.filter((e) => !existing.has(e.sim.iccid)).length,
    updated: refused ? 0 : accepted.filter((e) => existing.has(e.sim.iccid)).length,
    rejected,
    refused,
  };
  if (!refused && accepted.length > 0) await store.sims.addMany(accepted);
  await store.jobs.audit(options.actor ?? 'cli', 'import', sha256, {
    rows: report.rows,
    imported: report.imported,
    created: report.created,
    updated: report.updated,
    rejected: rejected.length,
    refused,
  });
  return report;
}

/** Rows whose MSISDN another SIM holds are rejected; returns the rest and the ICCIDs already known. */
async function checkAgainstStore(
  store: OtaStore,
  entries: readonly VendorEntry[],
  rejected: RejectedRow[],
): Promise<{ accepted: VendorEntry[]; existing: Set<string> }> {
  const existing = new Set<string>();
  const msisdnOwner = new Map<string, string>();
  for (let at = 0; at < entries.length; at += CHUNK) {
    const chunk = entries.slice(at, at + CHUNK);
    const iccids = chunk.map((e) => e.sim.iccid);
    for (const row of await store.engine.query<{ iccid: string }>(
      `SELECT iccid FROM sims WHERE iccid IN (${placeholders(iccids.length)})`,
      iccids,
    ))
      existing.add(row.iccid);
    const msisdns = chunk.flatMap((e) => (e.sim.msisdn === undefined ? [] : [e.sim.msisdn]));
    if (msisdns.length)
      for (const row of await store.engine.query<{ iccid: string; msisdn: string }>(
        `SELECT iccid, msisdn FROM sims WHERE msisdn IN (${placeholders(msisdns.length)})`,
        msisdns,
      ))
        msisdnOwner.set(row.msisdn, row.iccid);
  }
  const accepted: VendorEntry[] = [];
  for (const entry of entries) {
    const owner = entry.sim.msisdn === undefined ? undefined : msisdnOwner.get(entry.sim.msisdn);
    if (owner !== undefined && owner !== entry.sim.iccid)
      rejected.push({
        line: entry.line,
        iccid: entry.sim.iccid,
        reason: `the MSISDN belongs to SIM ${owner} already`,
      });
    else accepted.push(entry);
  }
  return { accepted, existing };
}
