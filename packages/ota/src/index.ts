export { type AdminApiOptions, serveAdminApi } from './admin/api.js';
export {
  ADMIN_CIPHERS,
  type AdminExchange,
  AdminServer,
  type AdminServerOptions,
  type AdminServerStats,
  type BodyEncoding,
  NULL_CIPHERS,
} from './admin/server.js';
export { authenticate, type Caller, callerOf } from './fleet/api-auth.js';
export {
  type CampaignAction,
  type CampaignRecord,
  type CampaignSelection,
  type CampaignSpec,
  type CampaignState,
  CampaignStateError,
  Campaigns,
  type DryRunReport,
  type NewCampaign,
} from './fleet/campaigns.js';
export { type FleetRouteOptions, fleetRoutes } from './fleet/http-fleet.js';
export { type ImportOptions, type ImportReport, importVendorFile } from './fleet/import.js';
export {
  type ApiTokenRecord,
  ROLES,
  type Role,
  roleAllows,
  TokenStore,
  tokenDigest,
} from './fleet/tokens.js';
export {
  CsvImportError,
  type ParsedVendorFile,
  parseVendorCsv,
  type RejectedRow,
  type TransportCipher,
  type VendorCsvOptions,
  type VendorEntry,
} from './fleet/vendor-csv.js';
export {
  DEFAULT_HEAP_GROWING_PERCENT,
  HEAP_GROWING_ENV,
  moderateHeapGrowth,
} from './heap-growth.js';
export {
  type ApiError,
  buildOtaApi,
  isLoopback,
  MIN_TOKEN_LENGTH,
  OtaApiConfigError,
  type OtaApiOptions,
  requireBearer,
  type ServedApi,
  serveOtaApi,
} from './http-api.js';
export type {
  AttemptClass,
  JobKind,
  PlannedSim,
  PlannedStep,
  RetryPolicy,
  StepContext,
  StepResult,
} from './jobs/kind.js';
export { DEFAULT_RETRY } from './jobs/kind.js';
export { applyRollout, parseRollout, type RolloutPolicy, waveSize } from './jobs/rollout.js';
export {
  DEFAULT_MAX_SMS_PER_SCRIPT,
  parseScp80Spec,
  Scp80Kind,
  type Scp80Spec,
  type Scp80Step,
} from './jobs/scp80-kind.js';
export { JobWorker, type WorkerOptions } from './jobs/worker.js';
export { type ExpectedPor, PorRouter, storedPor } from './por-router.js';
export * from './rotation/index.js';
export {
  type NewScriptJob,
  OtaLimitError,
  type OtaResult,
  type OtaScript,
  OtaServer,
  type OtaServerOptions,
  OtaTimeoutError,
  resultOf,
} from './server.js';
export { type MessageHandler, SmppLink, type SmppLinkOptions, type SmsLink } from './smpp-link.js';
export {
  type AddressingOptions,
  commandStatusText,
  decodePdu,
  ESME,
  SMPP_INTERFACE_VERSION_34,
  type SmppAddress,
  SmppError,
  SmppPduError,
  shortMessageOf,
  smppAddress,
} from './smpp-pdu.js';
export { checkBind, checkSubmitSm, type DataCodingPolicy, deliveredDcs } from './smsc-checks.js';
export { PacedSmsLink, type PacingOptions } from './smsc-pool.js';
export {
  type AdminScript,
  type AdminScriptState,
  type AdminSession,
  AdminStore,
  type ResultRecorded,
} from './storage/admin-store.js';
export {
  type Dialect,
  placeholders,
  type SqlEngine,
  type SqlExecutor,
  StorageError,
  type StorageErrorCode,
} from './storage/engine.js';
export {
  type AttemptRecord,
  type AttemptState,
  FINAL_ITEM_STATES,
  FINAL_JOB_STATES,
  type ItemState,
  type JobItem,
  type JobRecord,
  type JobState,
  LeaseLostError,
} from './storage/job-records.js';
export { JobStore } from './storage/job-store.js';
export { PostgresEngine } from './storage/postgres-engine.js';
export { MIGRATIONS, migrate, SCHEMA_VERSION } from './storage/schema.js';
export {
  type KeySetSummary,
  MAX_COUNTER,
  type OtaKeySet,
  type SimAudit,
  type SimFilter,
  type SimRecord,
  SimStore,
  validateSim,
} from './storage/sim-store.js';
export { SqliteEngine } from './storage/sqlite-engine.js';
export { isPostgresUrl, type OpenStoreOptions, OtaStore } from './storage/store.js';
export {
  type BindRecord,
  type HandsetCard,
  type HandsetFault,
  responsePacketUserData,
  type SubmitFault,
  type SubmitRecord,
  TestNetwork,
  type TestNetworkOptions,
} from './test-network/index.js';
