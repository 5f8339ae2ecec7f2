// A small UICC file system for remote file management (ETSI TS 102 221 §8, §11.1; RFM per TS 102 226
// §6): MF with EF ICCID, DF GSM with EF IMSI and EF SPN, DF TELECOM with EF SMSP. SELECT by file ID,
// READ/UPDATE BINARY on transparent EFs, READ/UPDATE RECORD (absolute mode) on linear fixed EFs.
import { type CommandApdu, concatBytes, encodeBerTlv, hexToBytes } from '@iotsafe/protocol';
import type { AppletResponse } from '../card/applet.js';
import { fail } from '../card/card-error.js';

export interface ElementaryFile {
  /** Path of file IDs from the MF, e.g. "3F00/7F20/6F07". */
  path: string;
  structure: 'transparent' | 'linearFixed';
  /** Transparent content, or the records (all of one length) of a linear fixed EF. */
  data?: Uint8Array;
  records?: Uint8Array[];
}

/** Default content: a test ICCID and IMSI (not a real subscription), empty SPN and SMSP records. */
export function defaultFiles(): ElementaryFile[] {
  return [
    { path: '3F00/2FE2', structure: 'transparent', data: hexToBytes('98001032547698103214') },
    { path: '3F00/7F20/6F07', structure: 'transparent', data: hexToBytes('082999010000000010') },
    { path: '3F00/7F20/6F46', structure: 'transparent', data: new Uint8Array(17).fill(0xff) },
    {
      path: '3F00/7F10/6F42',
      structure: 'linearFixed',
      records: [new Uint8Array(28).fill(0xff), new Uint8Array(28).fill(0xff)],
    },
  ];
}

/** One session on the file system (an RFM script): the current DF and EF. */
export class FileSession {
  private currentDf = '3F00';
  private currentEf: ElementaryFile | undefined;

  constructor(
    private readonly files: () => ElementaryFile[],
    /** Applies a change to a file and persists it (throws when it cannot be written). */
    private readonly commit: (change: () => void) => void,
  ) {}

  process(apdu: CommandApdu): AppletResponse {
    switch (apdu.ins) {
      case 0xa4:
        return this.select(apdu);
      case 0xb0:
        return this.readBinary(apdu);
      case 0xd6:
        return this.updateBinary(apdu);
      case 0xb2:
        return this.readRecord(apdu);
      case 0xdc:
        return this.updateRecord(apdu);
      default:
        return fail(0x6d00, 'not a file command');
    }
  }

  private select(apdu: CommandApdu): AppletResponse {
    if (apdu.p1 !== 0x00 || apdu.data.length !== 2)
      return fail(0x6a86, 'SELECT by file ID only (P1 00, 2 bytes)');
    const fid = Buffer.from(apdu.data).toString('hex').toUpperCase();
    if (fid === '3F00') {
      this.currentDf = '3F00';
      this.currentEf = undefined;
      return this.selected(fid);
    }
    const parent = this.currentDf.split('/').slice(0, -1).join('/');
    const candidates = [`${this.currentDf}/${fid}`, ...(parent ? [`${parent}/${fid}`] : [])];
    for (const path of candidates) {
      const ef = this.files().find((f) => f.path === path);
      if (ef) {
        this.currentEf = ef;
        return this.selected(fid, ef);
      }
      if (this.files().some((f) => f.path.startsWith(`${path}/`))) {
        this.currentDf = path;
        this.currentEf = undefined;
        return this.selected(fid);
      }
    }
    return fail(0x6a82, `file ${fid} not found`);
  }

  // P2 0C: no data; otherwise a minimal FCP (TS 102 221 §11.1.1.3): descriptor, ID, size.
  private selected(fid: string, ef?: ElementaryFile): AppletResponse {
    const fcp = encodeBerTlv(
      0x62,
      concatBytes(
        encodeBerTlv(0x82, Uint8Array.of(ef ? (ef.structure === 'transparent' ? 0x41 : 0x42) : 0x78, 0x21)),
        encodeBerTlv(0x83, hexToBytes(fid)),
        ...(ef
          ? [
              encodeBerTlv(
                0x80,
                Uint8Array.of(
                  0,
                  ef.data?.length ?? (ef.records?.length ?? 0) * (ef.records?.[0]?.length ?? 0),
                ),
              ),
            ]
          : []),
      ),
    );
    return { data: fcp, sw: 0x9000 };
  }

  private ef(structure: ElementaryFile['structure']): ElementaryFile {
    const ef = this.currentEf ?? fail(0x6986, 'no EF selected');
    if (ef.structure !== structure) fail(0x6981, 'command incompatible with the file structure');
    return ef;
  }

  private readBinary(apdu: CommandApdu): AppletResponse {
    const ef = this.ef('transparent');
    const offset = ((apdu.p1 & 0x7f) << 8) | apdu.p2;
    const data = ef.data!;
    if (offset > data.length) fail(0x6b00, 'offset beyond the end of the file');
    const length = apdu.le === undefined || apdu.le === 256 ? data.length - offset : apdu.le;
    if (offset + length > data.length) fail(0x6700, 'reading beyond the end of the file');
    return { data: data.slice(offset, offset + length), sw: 0x9000 };
  }

  private updateBinary(apdu: CommandApdu): AppletResponse {
    const ef = this.ef('transparent');
    const offset = ((apdu.p1 & 0x7f) << 8) | apdu.p2;
    if (offset + apdu.data.length > ef.data!.length) fail(0x6700, 'writing beyond the end of the file');
    this.commit(() => ef.data!.set(apdu.data, offset));
    return { data: new Uint8Array(0), sw: 0x9000 };
  }

  private record(apdu: CommandApdu): { ef: ElementaryFile; index: number } {
    const ef = this.ef('linearFixed');
    if (apdu.p2 !== 0x04) fail(0x6a86, 'absolute record mode only (P2 04)');
    const index = apdu.p1 - 1;
    if (index < 0 || index >= ef.records!.length) fail(0x6a83, `record ${apdu.p1} not found`);
    return { ef, index };
  }

  private readRecord(apdu: CommandApdu): AppletResponse {
    const { ef, index } = this.record(apdu);
    return { data: ef.records![index]!.slice(), sw: 0x9000 };
  }

  private updateRecord(apdu: CommandApdu): AppletResponse {
    const { ef, index } = this.record(apdu);
    if (apdu.data.length !== ef.records![index]!.length) fail(0x6700, 'a record is written whole');
    this.commit(() => ef.records![index]!.set(apdu.data));
    return { data: new Uint8Array(0), sw: 0x9000 };
  }
}
