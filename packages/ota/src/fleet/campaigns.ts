// Campaigns: an OTA script run over a set of SIMs chosen by ICCID/MSISDN, tags, batch or certificate
// expiry, on the job system. A campaign is created as a draft (checked whole: steps, retries,
// rollout), can be dry-run any number of times (per SIM what would be sent, SMS counts, a duration
// from the SMSC's rate; nothing sent, no counter taken), and started once: then it is a job, and
// pause, resume, cancel and its status are the job's. Every action lands in the audit log.
import { randomUUID } from 'node:crypto';
import type { PlannedSim, RetryPolicy } from '../jobs/kind.js';
import { parseRollout, type RolloutPolicy, waveSize } from '../jobs/rollout.js';
import type { Scp80Step } from '../jobs/scp80-kind.js';
import type { OtaServer } from '../server.js';
import { StorageError } from '../storage/engine.js';
import type { JobRecord, JobState } from '../storage/job-records.js';
import type { SimFilter } from '../storage/sim-store.js';

export interface CampaignSelection {
  /** SIMs by ICCID or MSISDN. */
  sims?: string[];
  tags?: string[];
  batch?: string;
  /** SIMs whose certificate (last audited) expires before this ISO 8601 time. */
  certExpiresBefore?: string;
}

export interface CampaignSpec {
  steps: Scp80Step[];
  retry?: RetryPolicy;
  porTimeoutMs?: number;
  rollout?: RolloutPolicy;
}

export interface NewCampaign extends CampaignSpec {
  name: string;
  select: CampaignSelection;
}

export type CampaignState = 'draft' | 'started' | 'cancelled';

export interface CampaignRecord {
  id: string;
  name: string;
  state: CampaignState;
  select: CampaignSelection;
  spec: CampaignSpec;
  createdBy: string | undefined;
  createdAt: number;
  updatedAt: number;
  jobId: string | undefined;
}

export interface DryRunReport {
  campaign: string;
  sims: number;
  refused: { iccid: string; reason: string }[];
  /** SMS per attempt over every SIM that can run it (retries not counted). */
  sms: number;
  waves: number;
  /** SMS at the SMSC's rate, when the server knows it: a lower bound (PoR waits not counted). */
  expectedSeconds?: number;
  /** The first SIMs' plans (at most `limit`). */
  plan: PlannedSim[];
}

/** A campaign action that its state does not allow (start twice, resume a draft…): 409. */
export class CampaignStateError extends Error {
  override name = 'CampaignStateError';
}

const invalid = (message: string) => new StorageError(message, 'invalid');

interface CampaignRow {
  id: string;
  name: string;
  state: string;
  selection: string;
  spec: string;
  created_by: string | null;
  created_at: number;
  updated_at: number;
  job_id: string | null;
}

const recordOf = (row: CampaignRow): CampaignRecord => ({
  id: row.id,
  name: row.name,
  state: row.state as CampaignState,
  select: JSON.parse(row.selection) as CampaignSelection,
  spec: JSON.parse(row.spec) as CampaignSpec,
  createdBy: row.created_by ?? undefined,
  createdAt: Number(row.created_at),
  updatedAt: Number(row.updated_at),
  jobId: row.job_id ?? undefined,
});

function parseSelection(value: CampaignSelection): CampaignSelection {
  if (!value || typeof value !== 'object') throw invalid('select is an object');
  const { sims, tags, batch, certExpiresBefore } = value;
  if (sims === undefined && tags === undefined && batch === undefined && certExpiresBefore === undefined)
    throw invalid('select names SIMs, tags, a batch or a certificate expiry');
  if (certExpiresBefore !== undefined && Number.isNaN(Date.parse(certExpiresBefore)))
    throw invalid('select.certExpiresBefore is an ISO 8601 time');
  return {
    ...(sims === undefined ? {} : { sims: [...sims] }),
    ...(tags === undefined ? {} : { tags: [...tags] }),
    ...(batch === undefined ? {} : { batch }),
    ...(certExpiresBefore === undefined ? {} : { certExpiresBefore }),
  };
}

const CONTROL: Record<'pause' | 'resume' | 'cancel', { from: JobState[]; to: JobState }> = {
  pause: { from: ['running'], to: 'paused' },
  resume: { from: ['paused'], to: 'running' },
  cancel: { from: ['running', 'paused'], to: 'cancelled' },
};
export type CampaignAction = keyof typeof CONTROL;

export class Campaigns {
  constructor(
    private readonly server: OtaServer,
    private readonly options: { tps?: number } = {},
  ) {}

  private get engine() {
    return this.server.store.engine;
  }

  async create(input: NewCampaign, actor = 'api'): Promise<CampaignRecord> {
    if (typeof input.name !== 'string' || !/^[\w .:@#/-]{1,80}$/.test(input.name))
      throw invalid('a campaign name is 1 to 80 of [A-Za-z0-9_ .:@#/-]');
    const select = parseSelection(input.select);
    const parsed = this.server.scp80.parse({
      steps: input.steps,
      ...(input.retry ? { retry: input.retry } : {}),
      ...(input.porTimeoutMs === undefined ? {} : { porTimeoutMs: input.porTimeoutMs }),
    });
    const rollout = parseRollout(input.rollout);
    const spec: CampaignSpec = { ...parsed, ...(rollout ? { rollout } : {}) };
    const id = randomUUID();
    const now = Date.now();
    await this.engine.query(
      `INSERT INTO campaigns (id, name, state, selection, spec, created_by, created_at, updated_at)
       VALUES ($1, $2, 'draft', $3, $4, $5, $6, $6)`,
      [id, input.name, JSON.stringify(select), JSON.stringify(spec), actor, now],
    );
    await this.server.store.jobs.audit(actor, 'campaign.create', id, { name: input.name });
    return this.get(id);
  }

  async get(id: string): Promise<CampaignRecord> {
    const [row] = await this.engine.query<CampaignRow>('SELECT * FROM campaigns WHERE id = $1', [id]);
    if (!row) throw new StorageError(`no campaign ${id}`, 'unknown_job');
    return recordOf(row);
  }

  async list(limit = 100): Promise<CampaignRecord[]> {
    const rows = await this.engine.query<CampaignRow>(
      `SELECT * FROM campaigns ORDER BY created_at DESC, id LIMIT ${Math.min(Math.max(limit, 1), 1000)}`,
    );
    return rows.map(recordOf);
  }

  /** The ICCIDs a campaign's selection names now (named SIMs must exist). */
  async select(campaign: CampaignRecord): Promise<string[]> {
    const { sims, tags, batch, certExpiresBefore } = campaign.select;
    const filter: Omit<SimFilter, 'limit'> = {
      ...(tags ? { tags } : {}),
      ...(batch === undefined ? {} : { batch }),
      ...(certExpiresBefore === undefined ? {} : { certExpiresBefore: Date.parse(certExpiresBefore) }),
    };
    const byFilter =
      tags || batch !== undefined || certExpiresBefore !== undefined
        ? new Set(await this.server.store.sims.select(filter))
        : undefined;
    if (!sims) return [...(byFilter ?? [])];
    const named: string[] = [];
    for (const name of sims) {
      const { iccid } = await this.server.store.sims.get(name);
      if (!byFilter || byFilter.has(iccid)) named.push(iccid);
    }
    return [...new Set(named)];
  }

  /** What starting the campaign would send, SIM by SIM; nothing is sent, no counter taken. */
  async dryRun(id: string, limit = 100, actor = 'api'): Promise<DryRunReport> {
    const campaign = await this.get(id);
    const iccids = await this.select(campaign);
    const refused: DryRunReport['refused'] = [];
    const plan: PlannedSim[] = [];
    let sms = 0;
    for (const iccid of iccids) {
      const planned = await this.server.scp80.plan(
        campaign.spec,
        await this.server.store.sims.get(iccid),
        this.server.store,
      );
      if (planned.refused) refused.push({ iccid, reason: planned.refused });
      else sms += planned.steps.reduce((n, s) => n + s.sms, 0);
      if (plan.length < limit) plan.push(planned);
    }
    await this.server.store.jobs.audit(actor, 'campaign.dry-run', id, { sims: iccids.length });
    const waves = wavesFor(campaign.spec.rollout, iccids.length);
    return {
      campaign: id,
      sims: iccids.length,
      refused,
      sms,
      waves,
      ...(this.options.tps ? { expectedSeconds: Math.ceil(sms / this.options.tps) } : {}),
      plan,
    };
  }

  /** Starts a draft: its SIMs as selected now, one job; refused whole when a SIM cannot run it. */
  async start(id: string, actor = 'api'): Promise<CampaignRecord> {
    const claimed = await this.engine.query(
      `UPDATE campaigns SET state = 'started', updated_at = $2 WHERE id = $1 AND state = 'draft' RETURNING id`,
      [id, Date.now()],
    );
    if (claimed.length === 0) {
      const campaign = await this.get(id);
      throw new CampaignStateError(`the campaign is ${campaign.state}: it cannot start`);
    }
    let job: JobRecord;
    try {
      const campaign = await this.get(id);
      const sims = await this.select(campaign);
      if (sims.length === 0) throw new CampaignStateError('the campaign selects no SIM');
      job = await this.server.submitJob({ sims, ...campaign.spec, createdBy: actor });
    } catch (error) {
      await this.engine.query(`UPDATE campaigns SET state = 'draft' WHERE id = $1`, [id]);
      throw error;
    }
    await this.engine.query('UPDATE campaigns SET job_id = $2, updated_at = $3 WHERE id = $1', [
      id,
      job.id,
      Date.now(),
    ]);
    await this.server.store.jobs.audit(actor, 'campaign.start', id, { job: job.id, sims: job.total });
    return this.get(id);
  }

  /** Pause, resume or cancel (a draft can only be cancelled). */
  async control(id: string, action: CampaignAction, actor = 'api'): Promise<CampaignRecord> {
    const campaign = await this.get(id);
    if (campaign.state === 'draft' && action === 'cancel') {
      await this.engine.query(
        `UPDATE campaigns SET state = 'cancelled', updated_at = $2 WHERE id = $1 AND state = 'draft'`,
        [id, Date.now()],
      );
    } else {
      if (!campaign.jobId)
        throw new CampaignStateError(`the campaign is ${campaign.state}: it cannot ${action}`);
      const { from, to } = CONTROL[action];
      const job = await this.server.store.jobs.get(campaign.jobId);
      if (!(await this.server.store.jobs.setState(job.id, from, to, `${action} by ${actor}`)))
        throw new CampaignStateError(`the campaign's job is ${job.state}: it cannot ${action}`);
    }
    await this.server.store.jobs.audit(actor, `campaign.${action}`, id);
    return this.get(id);
  }
}

function wavesFor(rollout: RolloutPolicy | undefined, sims: number): number {
  if (!rollout?.waves || sims === 0) return sims === 0 ? 0 : 1;
  let waves = 0;
  for (let released = 0; released < sims; waves++) released += waveSize(rollout.waves, waves);
  return waves;
}
