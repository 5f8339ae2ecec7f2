// The benchmark fleet's SCP81 credentials, shared by the server process and the cards. TEST keys only.

/** SIM i of the benchmark: its ICCID, PSK identity and 16-byte TLS-PSK. */
export const benchSim = (i: number) => {
  const psk = new Uint8Array(16).fill(0xa5);
  new DataView(psk.buffer).setUint32(12, i);
  return { iccid: `8988299${String(i).padStart(12, '0')}`, identity: `bench-${i}`, psk };
};
