export { BLANK_PROFILE, BUILTIN_PROFILES, TYPE1_PROFILE, TYPE2_PROFILE } from './builtin-profiles.js';
export type { Applet, AppletResponse, CommandContext } from './card/applet.js';
export { CardError } from './card/card-error.js';
export {
  buildAtr,
  type Card,
  CardRuntime,
  type CardRuntimeOptions,
  type TransmissionProtocol,
} from './card/runtime.js';
export { type IssueOptions, ProactiveCommandError, Toolkit } from './card/toolkit.js';
export { type LatencyOptions, latencyOf, TYPICAL_SIM_LATENCY } from './frontends/latency.js';
export { EmulatedModem, MODEM_PRESETS, type ModemOptions, type ModemPreset } from './frontends/modem.js';
export { type ServedModem, serveModem } from './frontends/modem-serial.js';
export {
  answerFrame,
  checkAccessKey,
  type ServedTcp,
  serveTcp,
  TcpAccessKeyError,
  type TcpFrontEndOptions,
} from './frontends/tcp.js';
export { type InsertedCard, insertIntoVpcd, type ViccOptions } from './frontends/vicc.js';
export { IsdApplet, type ManagedApplication, type RemoteSecurity } from './gp/isd-applet.js';
export {
  APP_LIFE_CYCLE,
  CARD_LIFE_CYCLE,
  ISD_AID,
  type IsdState,
  type KeySet,
  scp80KeySet,
  scp81KeySet,
} from './gp/isd-state.js';
export { SecureChannelService } from './gp/secure-channel.js';
export { IoTSafeApplet } from './iotsafe/applet.js';
export * from './iotsafe/containers.js';
export { PERSONALITIES, type Personality, personalityByName, REFERENCE } from './iotsafe/personality.js';
export { ObjectStore } from './iotsafe/store.js';
export {
  meetsMinimumSecurity,
  OtaReceiver,
  type OtaReceiverOptions,
  type OtaTarget,
  type PorBySmsPolicy,
  type ScriptRunner,
} from './ota/receiver.js';
export {
  containersFromProfile,
  type Profile,
  ProfileError,
  parseProfile,
  personalizationFromProfile,
  profileSchema,
} from './profile.js';
export {
  AdminAgent,
  type AdminAgentTimeouts,
  type AdminAttempt,
  type AdminSessionRecord,
  type ScriptContext,
  type ScriptOutcome,
} from './scp81/admin-agent.js';
export { BipChannelError, CardBipChannel } from './scp81/card-channel.js';
export {
  type CardTlsOptions,
  type CardTlsProfile,
  type CardTlsSession,
  cardTlsConnectOptions,
  type OpenCardTls,
  openTlsWithIotsafeTls,
  openTlsWithProfile,
  PSK_AES_128_GCM_SHA256,
  REAL_CARD_CIPHER_SUITES,
} from './scp81/card-tls.js';
export { AdminTransportError } from './scp81/http-exchange.js';
export { AdminParameterError, type AdminParameters, DEFAULT_ADMIN_PARAMETERS } from './scp81/parameters.js';
export { type AdminParametersJson, parseAdminParameters } from './scp81/parameters-json.js';
export { decodeStoredParameters, encodeStoredParameters } from './scp81/stored-parameters.js';
export { type DirectoryLock, LOCK_FILE, type LockHolder, SimLockedError } from './storage/directory-lock.js';
export { SimStateError } from './storage/sim-state.js';
export {
  newStorageKey,
  readStorageKeyFile,
  STORAGE_KEY_ENV,
  STORAGE_KEY_FILE_ENV,
  StorageKeyError,
  storageKeyFromEnvironment,
} from './storage/storage-key.js';
export { defaultFiles, type ElementaryFile, FileSession } from './uicc/file-system.js';
export {
  type DurableSimOptions,
  type IsdKeyOptions,
  ProvisioningError,
  type Scp81Options,
  type SimOptions,
  STATE_FILE,
  VirtualSim,
} from './virtual-sim.js';
