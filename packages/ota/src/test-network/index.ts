// The local test network: an SMSC with virtual handsets, for OTA without an operator.
export { responsePacketUserData } from './concatenated-por.js';
export type { HandsetCard, HandsetFault } from './handset.js';
export type { BindRecord, SubmitFault, SubmitRecord } from './records.js';
export { type DeliveryDelay, TestNetwork, type TestNetworkOptions } from './smsc.js';
