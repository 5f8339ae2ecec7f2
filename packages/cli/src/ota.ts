// `iotsafe ota encode | decode`: build an SCP80 secured packet from keys and a script, or open a
// captured one (packet, SMS user data, SMS-DELIVER TPDU or ENVELOPE) or a PoR with the keys. Keys come
// from --kic-key/--kid-key, IOTSAFE_OTA_KIC/_KID, or a key file with kic= and kid= lines; never printed.
// `ota add-sim` records a SIM in the OTA server's key store; send, serve and network are in ota-server.ts.
import {
  bytesToHex,
  commandPacketUserData,
  DCS_8BIT_CLASS2,
  decodeCommandHeader,
  decodeCompactScript,
  decodeExpandedScript,
  decodeResponsePacket,
  decodeSmsDeliver,
  decodeSmsPpDownload,
  decodeSpi,
  decodeUserDataHeader,
  encodeCommandPacket,
  encodeSmsDeliver,
  encodeSmsPpDownload,
  hexToBytes,
  type OtaKeys,
  openCommandPacket,
  PID_SIM_DATA_DOWNLOAD,
  scriptFormat,
  TOA_UNKNOWN_ISDN,
} from '@iotsafe/protocol';
import { type Command, Option } from 'commander';
import { parseHexKey, readKeyFile } from './key-files.js';
import { registerOtaAdminCommands } from './ota-admin.js';
import { hexOption, openKeyStore, registerOtaServerCommands } from './ota-server.js';
import { describeSpi } from './ota-trace.js';
import { emit, print, printJson, table } from './output.js';
import { byteHex, porJson, porRows } from './por.js';
import { registerRotationCommands } from './rotation-commands.js';
import { type GlobalOptions, storageKey, UsageError } from './session.js';

interface KeyFlags {
  kicKey?: string;
  kidKey?: string;
  keysFile?: string;
}

/** SCP80 keys: DES (8), 3DES (16, 24) or AES (16, 24, 32) bytes. */
const SCP80_LENGTHS = [8, 16, 24, 32];

function otaKeys(flags: KeyFlags): OtaKeys {
  const file = flags.keysFile ? readKeyFile(flags.keysFile) : undefined;
  if (file?.single !== undefined)
    throw new UsageError(
      `${flags.keysFile}: an SCP80 key file has kic= and kid= lines (\`iotsafe keys new --scp80\`)`,
    );
  const key = (flag: string | undefined, env: string, name: 'kic' | 'kid', position: 'enc' | 'mac') => {
    const text = flag ?? process.env[env] ?? file?.named.get(position);
    return text === undefined ? undefined : parseHexKey(text, `the ${name.toUpperCase()} key`, SCP80_LENGTHS);
  };
  const kic = key(flags.kicKey, 'IOTSAFE_OTA_KIC', 'kic', 'enc');
  const kid = key(flags.kidKey, 'IOTSAFE_OTA_KID', 'kid', 'mac');
  return { ...(kic ? { kic } : {}), ...(kid ? { kid } : {}) };
}

const keyOptions = (c: Command) =>
  c
    .option('--kic-key <hex>', 'ciphering key (or IOTSAFE_OTA_KIC)')
    .option('--kid-key <hex>', 'checksum key (or IOTSAFE_OTA_KID)')
    .option('--keys-file <file>', 'key file with kic= and kid= lines');

/** Strips whatever wraps a command packet: ENVELOPE, SMS-DELIVER TPDU, user data with 02 70 00. */
function unwrap(bytes: Uint8Array): { packet: Uint8Array; layers: string[] } {
  const layers: string[] = [];
  let at = bytes;
  if (at[0] === 0x80 && at[1] === 0xc2) {
    at = decodeSmsPpDownload(at.subarray(5));
    layers.push('ENVELOPE');
  } else if (at[0] === 0xd1) {
    at = decodeSmsPpDownload(at);
    layers.push('ENVELOPE data');
  }
  if (layers.length || (at[0] !== undefined && (at[0] & 0x03) === 0x00 && at[0] !== 0x00 && at[0] !== 0x02)) {
    at = decodeSmsDeliver(at).userData;
    layers.push('SMS-DELIVER');
  }
  if (at[0] === 0x02 && at[1] === 0x70) {
    at = decodeUserDataHeader(at).body;
    layers.push('user data (CPI 70)');
  }
  return { packet: at, layers };
}

export function registerOta(program: Command, globals: () => GlobalOptions): void {
  const ota = program
    .command('ota')
    .description('SCP80 over the air: build and open packets, keep keys and counters, send over SMPP');
  registerAddSim(ota, globals);
  registerOtaServerCommands(ota, globals);
  registerOtaAdminCommands(ota, globals);
  registerRotationCommands(ota, globals);

  keyOptions(
    ota
      .command('encode')
      .description('build a secured command packet from keys and a script')
      .requiredOption(
        '--spi <hex>',
        'SPI, 2 bytes (e.g. 1619: cipher, CC, counter higher, PoR ciphered + CC)',
      )
      .requiredOption('--kic <hex>', 'KIc byte (e.g. 12 AES KVN 1, 15 3DES KVN 1)')
      .option('--kid <hex>', 'KID byte (default: the KIc byte)')
      .requiredOption('--tar <hex>', 'TAR, 3 bytes (000000 ISD RAM, B00000 RFM)')
      .requiredOption('--counter <n>', 'CNTR, a decimal number')
      .requiredOption('--script <hex>', 'the secured data: C-APDUs (compact) or an AA/AE script')
      .addOption(
        new Option('--as <form>', 'output form')
          .choices(['packet', 'user-data', 'sms-deliver', 'envelope'])
          .default('packet'),
      )
      .option('--originator <digits>', 'TP-OA of the SMS-DELIVER', '1234'),
  ).action(
    (
      options: KeyFlags & {
        spi: string;
        kic: string;
        kid?: string;
        tar: string;
        counter: string;
        script: string;
        as: string;
        originator: string;
      },
    ) => {
      if (!/^\d+$/.test(options.counter)) throw new UsageError('--counter takes a decimal number');
      const packet = encodeCommandPacket(
        {
          spi: hexOption(options.spi, '--spi', 2),
          kic: hexOption(options.kic, '--kic', 1)[0]!,
          kid: hexOption(options.kid ?? options.kic, '--kid', 1)[0]!,
          tar: hexOption(options.tar, '--tar', 3),
          counter: BigInt(options.counter),
          data: hexOption(options.script, '--script'),
        },
        otaKeys(options),
      );
      const userData = commandPacketUserData(packet);
      const forms = userData.map((ud) => {
        if (options.as === 'user-data') return ud;
        const tpdu = encodeSmsDeliver({
          originator: { digits: options.originator, toa: TOA_UNKNOWN_ISDN },
          pid: PID_SIM_DATA_DOWNLOAD,
          dcs: DCS_8BIT_CLASS2,
          timestamp: hexToBytes('00000000000000'),
          userData: ud,
          userDataHeader: true,
        });
        return options.as === 'sms-deliver' ? tpdu : encodeSmsPpDownload(tpdu);
      });
      const out = options.as === 'packet' ? [packet] : forms;
      emit(globals().json, { form: options.as, hex: out.map((b) => bytesToHex(b)) }, () =>
        out.map((b) => bytesToHex(b)).join('\n'),
      );
    },
  );

  keyOptions(
    ota
      .command('decode <hex>')
      .description('open a captured command packet (or its SMS, ENVELOPE) or a PoR (02 71 00 …)')
      .option('--spi <hex>', "for a PoR: the command's SPI")
      .option('--kic <hex>', "for a PoR: the command's KIc byte")
      .option('--kid <hex>', "for a PoR: the command's KID byte (default: the KIc byte)"),
  ).action((hex: string, options: KeyFlags & { spi?: string; kic?: string; kid?: string }) => {
    const bytes = hexOption(hex, 'the packet');
    const keys = otaKeys(options);
    if (bytes[0] === 0x02 && bytes[1] === 0x71) {
      const kic = hexOption(options.kic, '--kic (of the command)', 1)[0]!;
      const security = {
        spi: decodeSpi(hexOption(options.spi, '--spi (of the command)', 2)),
        kic,
        kid: options.kid ? hexOption(options.kid, '--kid', 1)[0]! : kic,
      };
      const por = decodeResponsePacket(bytes, security, keys);
      emit(globals().json, { kind: 'por', ...porJson(por) }, () => table(porRows(por)));
      return;
    }
    const { packet, layers } = unwrap(bytes);
    const header = decodeCommandHeader(packet);
    const opened = openCommandPacket(packet, keys);
    const format = scriptFormat(opened.data);
    const commands =
      format === 'expanded'
        ? decodeExpandedScript(opened.data)
        : format === 'compact'
          ? safeCompact(opened.data)
          : [];
    if (globals().json) {
      printJson({
        kind: 'command',
        layers,
        spi: bytesToHex(header.spiBytes),
        kic: byteHex(header.kic),
        kid: byteHex(header.kid),
        tar: bytesToHex(header.tar),
        counter: opened.counter,
        data: bytesToHex(opened.data),
        format,
        commands: commands.map((c) => bytesToHex(c)),
      });
      return;
    }
    const spi = header.spi;
    print(
      table([
        ['wrapped in', layers.join(' > ') || 'nothing (a bare packet)'],
        ['SPI', `${bytesToHex(header.spiBytes)}: ${describeSpi(spi)}`],
        ['KIc / KID', `${byteHex(header.kic)} / ${byteHex(header.kid)}`],
        ['TAR', bytesToHex(header.tar)],
        ['CNTR', opened.counter.toString()],
        ['script', `${format}: ${commands.map((c) => bytesToHex(c)).join(' ') || bytesToHex(opened.data)}`],
      ]),
    );
  });
}

function safeCompact(data: Uint8Array): Uint8Array[] {
  try {
    return decodeCompactScript(data);
  } catch {
    return [data];
  }
}

function registerAddSim(ota: Command, globals: () => GlobalOptions): void {
  keyOptions(
    ota
      .command('add-sim')
      .description('record a SIM and an SCP80 key set in the OTA key store (keys sealed by the storage key)')
      .requiredOption('--store <file>', 'the key store (SQLite)')
      .option('--create', 'create the key store if it does not exist (0600)')
      .requiredOption('--iccid <digits>')
      .requiredOption('--msisdn <digits>')
      .option('--kvn <n>', 'key version', '1')
      .requiredOption('--kic <hex>', 'KIc byte (12 AES, 15 3DES 2-key; its KVN nibble is taken from --kvn)'),
  ).action(
    async (
      options: KeyFlags & {
        store: string;
        create?: boolean;
        iccid: string;
        msisdn: string;
        kvn: string;
        kic: string;
      },
    ) => {
      const kvn = Number(options.kvn);
      if (!Number.isInteger(kvn) || kvn < 1 || kvn > 15) throw new UsageError('--kvn takes 1 to 15');
      const keys = otaKeys(options);
      if (!keys.kic || !keys.kid)
        throw new UsageError('give the KIc and KID keys (--kic-key/--kid-key or --keys-file)');
      const byte = (kvn << 4) | (hexOption(options.kic, '--kic', 1)[0]! & 0x0f);
      const store = await openKeyStore(options.store, storageKey(globals()), options.create ?? false);
      try {
        await store.sims.add({ iccid: options.iccid, msisdn: options.msisdn });
        await store.sims.putKeySet(options.iccid, {
          kvn,
          kicByte: byte,
          kidByte: byte,
          kic: keys.kic,
          kid: keys.kid,
        });
        const counter = await store.sims.counter(options.iccid, kvn);
        emit(
          globals().json,
          { iccid: options.iccid, msisdn: options.msisdn, keyVersion: kvn, kic: byteHex(byte), counter },
          () => `SIM ${options.iccid} (${options.msisdn}): key set ${kvn} stored, counter ${counter}`,
        );
      } finally {
        await store.close();
      }
    },
  );
}
