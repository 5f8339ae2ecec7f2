// What the test SMSC records of the traffic it saw, and the faults a test can ask of it.

export interface BindRecord {
  command: string;
  interfaceVersion: unknown;
  systemId: unknown;
  status: number;
}

/** A submit_sm the SMSC accepted. */
export interface SubmitRecord {
  messageId: string;
  sourceAddr: string;
  sourceTon: number;
  sourceNpi: number;
  destinationAddr: string;
  destTon: number;
  destNpi: number;
  esmClass: number;
  protocolId: number;
  dataCoding: number;
  /** The TP-DCS of the SMS-DELIVER the handset got. */
  dcs: number;
  userData: Uint8Array;
}

/**
 * Ways to break the connection around the next submit_sm: 'drop-unseen' before the SMSC takes it,
 * 'drop-before-response' after it took (and delivered) it but before the submit_sm_resp, and
 * 'drop-after-response' just after the submit_sm_resp.
 */
export type SubmitFault = 'drop-unseen' | 'drop-before-response' | 'drop-after-response';
