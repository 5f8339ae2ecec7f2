// `iotsafe ota encode | decode`: build an SCP80 secured packet from keys and a script, or open a
// captured one (packet, SMS user data, SMS-DELIVER TPDU or ENVELOPE) or a PoR with the keys. Keys come
// from --kic-key/--kid-key, IOTSAFE_OTA_KIC/_KID, or a key file with kic= and kid= lines; never printed.
// `ota add-sim | send | serve | network`: the operator's key store, server and a local SMSC.
import { OtaKeyStore, OtaServer, SmppLink, serveOtaApi, TestNetwork } from '@iotsafe/ota';
import {
  bytesToHex,
  commandPacketUserData,
  type DecodedResponse,
  decodeCommandHeader,
  decodeCompactResponse,
  decodeCompactScript,
  decodeExpandedResponse,
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
  scriptFormat,
  swToHex,
} from '@iotsafe/protocol';
import { VirtualSim } from '@iotsafe/sim';
import { type Command, Option } from 'commander';
import { porStatusHint, porStatusName } from './errors.js';
import { parseHexKey, readKeyFile } from './key-files.js';
import { describeSpi, observedLink, tracedCard } from './ota-trace.js';
import { emit, print, printError, printJson, table } from './output.js';
import { type GlobalOptions, parseHostPort, storageKey, UsageError } from './session.js';
import { untilInterrupted, writePortFile } from './wait.js';

/** What `ota send` and `ota serve` share: the key store, the SMSC, and the wait for each PoR. */
interface ServerFlags {
  store: string;
  smsc: string;
  systemId: string;
  password?: string;
  timeout: string;
}

function addServerFlags(c: Command): Command {
  return c
    .requiredOption('--store <file>', 'the key store (SQLite)')
    .requiredOption('--smsc <host:port>', 'the SMSC (SMPP)')
    .option('--system-id <id>', 'SMPP system_id', 'iotsafe')
    .option('--password <text>', 'SMPP password (or IOTSAFE_SMPP_PASSWORD)')
    .option('--timeout <ms>', 'wait for a PoR, per attempt', '10000');
}

/** The SMPP link to the SMSC the flags name; the password may come from the environment instead. */
function connectSmsc(options: ServerFlags): Promise<SmppLink> {
  return SmppLink.connect({
    ...parseHostPort(options.smsc, '--smsc'),
    systemId: options.systemId,
    password: options.password ?? process.env.IOTSAFE_SMPP_PASSWORD ?? '',
  });
}

interface KeyFlags {
  kicKey?: string;
  kidKey?: string;
  keysFile?: string;
}

function hexOption(value: string | undefined, what: string, bytes?: number): Uint8Array {
  if (value === undefined) throw new UsageError(`${what} is required`);
  const clean = value.replace(/\s+/g, '');
  if (!/^([0-9a-fA-F]{2})*$/.test(clean) || (bytes !== undefined && clean.length !== bytes * 2))
    throw new UsageError(`${what} takes ${bytes === undefined ? '' : `${bytes} bytes of `}hex`);
  return hexToBytes(clean);
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

const byteHex = (n: number) => n.toString(16).padStart(2, '0').toUpperCase();

/** A PoR as JSON (docs/json.md): status by name, its code in hex, counters as numbers. */
function porJson(por: DecodedResponse) {
  const response =
    por.data.length === 0
      ? undefined
      : scriptFormat(por.data) === 'compact'
        ? (() => {
            const r = decodeCompactResponse(por.data);
            return { format: 'compact', executed: r.executed, sw: swToHex(r.sw), data: bytesToHex(r.data) };
          })()
        : (() => {
            const r = decodeExpandedResponse(por.data);
            return {
              format: 'expanded',
              executed: r.executed,
              responses: r.responses.map((x) => bytesToHex(x)),
            };
          })();
  const hint = porStatusHint(por.status);
  return {
    tar: bytesToHex(por.tar),
    counter: por.counter,
    status: porStatusName(por.status),
    statusCode: byteHex(por.status),
    statusText: por.statusText,
    ...(hint ? { hint } : {}),
    secured: por.secured,
    data: bytesToHex(por.data),
    ...(response ? { response } : {}),
  };
}

function porRows(por: DecodedResponse): string[][] {
  const j = porJson(por);
  const r = j.response;
  return [
    ['TAR', j.tar],
    ['CNTR', String(j.counter)],
    ['status', `${j.statusCode} ${j.statusText}${j.hint ? ` (${j.hint})` : ''}`],
    ['secured', por.secured ? 'as the SPI asked' : 'no (an error PoR sent without security)'],
    ...(j.data ? [['data', j.data]] : []),
    ...(r
      ? [
          [
            'response',
            'sw' in r
              ? `${r.executed} executed, last SW ${r.sw}${r.data ? `, data ${r.data}` : ''}`
              : `${r.executed} executed; R-APDUs ${r.responses?.join(' ')}`,
          ],
        ]
      : []),
  ];
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
  registerServerCommands(ota, globals);

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
          originator: { digits: options.originator, toa: 0x81 },
          pid: 0x7f,
          dcs: 0xf6,
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

/** The trace's view of the key store: the keys of the SIM at an MSISDN for a KIc byte's key version. */
const keysFromStore =
  (store: OtaKeyStore) =>
  (msisdn: string, kic: number): OtaKeys => {
    const set = store.keySet(store.sim(msisdn).iccid, kic >> 4);
    return { kic: set.kic, kid: set.kid };
  };

function registerServerCommands(ota: Command, globals: () => GlobalOptions): void {
  const openStore = (path: string) => OtaKeyStore.open(path, storageKey(globals()));

  keyOptions(
    ota
      .command('add-sim')
      .description('record a SIM and an SCP80 key set in the OTA key store (keys sealed by the storage key)')
      .requiredOption('--store <file>', 'the key store (SQLite)')
      .requiredOption('--iccid <digits>')
      .requiredOption('--msisdn <digits>')
      .option('--kvn <n>', 'key version', '1')
      .requiredOption('--kic <hex>', 'KIc byte (12 AES, 15 3DES 2-key; its KVN nibble is taken from --kvn)'),
  ).action(
    (options: KeyFlags & { store: string; iccid: string; msisdn: string; kvn: string; kic: string }) => {
      const kvn = Number(options.kvn);
      if (!Number.isInteger(kvn) || kvn < 1 || kvn > 15) throw new UsageError('--kvn takes 1 to 15');
      const keys = otaKeys(options);
      if (!keys.kic || !keys.kid)
        throw new UsageError('give the KIc and KID keys (--kic-key/--kid-key or --keys-file)');
      const byte = (kvn << 4) | (hexOption(options.kic, '--kic', 1)[0]! & 0x0f);
      const store = openStore(options.store);
      try {
        store.addSim({ iccid: options.iccid, msisdn: options.msisdn });
        store.putKeySet(options.iccid, { kvn, kicByte: byte, kidByte: byte, kic: keys.kic, kid: keys.kid });
        const counter = store.counter(options.iccid, kvn);
        emit(
          globals().json,
          { iccid: options.iccid, msisdn: options.msisdn, keyVersion: kvn, kic: byteHex(byte), counter },
          () => `SIM ${options.iccid} (${options.msisdn}): key set ${kvn} stored, counter ${counter}`,
        );
      } finally {
        store.close();
      }
    },
  );

  const send = ota
    .command('send')
    .description('send a script to a SIM over SMPP and print its PoR')
    .option('--to <iccid|msisdn>', 'the SIM')
    .option('--iccid <digits>', 'the SIM by ICCID (same as --to)')
    .requiredOption('--tar <hex>', 'TAR: 000000 RAM to the ISD, B00000 RFM')
    .requiredOption('--script <hex>', 'compact C-APDUs or an AA/AE script')
    .option('--spi <hex>', 'SPI', '1619')
    .option('--kvn <n>', 'key version', '1');
  addServerFlags(send).action(
    async (
      options: ServerFlags & {
        to?: string;
        iccid?: string;
        tar: string;
        script: string;
        spi: string;
        kvn: string;
      },
    ) => {
      const sim = options.to ?? options.iccid;
      if (!sim) throw new UsageError('which SIM? pass --iccid DIGITS or --to ICCID|MSISDN');
      const request = {
        sim,
        tar: bytesToHex(hexOption(options.tar, '--tar', 3)),
        script: hexOption(options.script, '--script'),
        spi: bytesToHex(hexOption(options.spi, '--spi', 2)),
        kvn: Number(options.kvn),
      };
      const store = openStore(options.store);
      try {
        const timeoutMs = Number(options.timeout);
        const link = observedLink(await connectSmsc(options), {
          ...(globals().trace ? { trace: printError } : {}),
          keys: keysFromStore(store),
          timeoutMs,
          attempts: 2,
        });
        try {
          const result = await new OtaServer(store, link, { timeoutMs }).send(request);
          link.stopProgress();
          const por = result.por;
          emit(
            globals().json,
            { counter: result.counter, attempts: result.attempts, ...(por ? { por: porJson(por) } : {}) },
            () =>
              table([
                ['CNTR', String(result.counter)],
                ['attempts', String(result.attempts)],
                ...(por ? porRows(por).filter(([k]) => k !== 'CNTR') : [['PoR', '(none asked for)']]),
              ]),
          );
          if (por && por.status !== 0) process.exitCode = 3;
        } finally {
          link.stopProgress();
          await link.close();
        }
      } finally {
        store.close();
      }
    },
  );

  const serve = ota
    .command('serve')
    .description('keep the OTA server and its SMPP link up; take scripts on POST /send (127.0.0.1)')
    .option('--listen <[host:]port>', 'the HTTP API (host 127.0.0.1 by default)', '0')
    .option('--port-file <file>', 'write the HTTP port there once listening');
  addServerFlags(serve).action(async (options: ServerFlags & { listen: string; portFile?: string }) => {
    const store = openStore(options.store);
    const link = observedLink(await connectSmsc(options), {
      ...(globals().trace ? { trace: printError } : {}),
      keys: keysFromStore(store),
    });
    const api = await serveOtaApi(new OtaServer(store, link, { timeoutMs: Number(options.timeout) }), {
      ...(options.listen === '0' ? {} : parseHostPort(options.listen, '--listen')),
    });
    const url = `http://127.0.0.1:${api.port}/send`;
    emit(globals().json, { url }, () => `OTA server: POST ${url} {"to", "tar", "script"}`);
    writePortFile(options.portFile, api.port);
    await untilInterrupted();
    await api.stop();
    await link.close();
    store.close();
  });

  ota
    .command('network <sim-dir>')
    .description('run a local SMSC (SMPP on 127.0.0.1) with a handset holding this SIM, until interrupted')
    .requiredOption('--msisdn <digits>', "the handset's number")
    .option('--port <n>', 'SMPP port (default: a free one)', '0')
    .option('--system-id <id>', 'SMPP system_id to accept', 'iotsafe')
    .option('--password <text>', 'SMPP password to accept (or IOTSAFE_SMPP_PASSWORD)')
    .option('--port-file <file>', 'write the SMPP port there once listening')
    .action(
      async (
        simDir: string,
        options: { msisdn: string; port: string; systemId: string; password?: string; portFile?: string },
      ) => {
        const sim = VirtualSim.open(simDir, { storageKey: storageKey(globals()) });
        const network = await TestNetwork.start({
          systemId: options.systemId,
          password: options.password ?? process.env.IOTSAFE_SMPP_PASSWORD ?? '',
          port: Number(options.port),
        });
        network.attach(options.msisdn, globals().trace ? tracedCard(sim.card, printError) : sim.card);
        emit(
          globals().json,
          { smsc: `127.0.0.1:${network.port}`, msisdn: options.msisdn, sim: simDir },
          () => `SMSC on 127.0.0.1:${network.port}; handset ${options.msisdn} holds ${simDir}`,
        );
        writePortFile(options.portFile, network.port);
        await untilInterrupted();
        await network.stop();
      },
    );
}
