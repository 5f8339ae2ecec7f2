// PacedSmsLink over fake binds: the window bounds what is unacknowledged on each bind, SMS go round
// robin over the binds with room, a throttling refusal pauses every bind and goes back to the head of
// the queue (never to the caller), any other refusal reaches the caller, and ready() lets a caller
// through only when its SMS can leave soon.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ESME, PacedSmsLink, SmppError, type SmsLink } from '@iotsafe/ota';

interface FakeBind extends SmsLink {
  outstanding: number;
  maxOutstanding: number;
  sent: string[];
  answer(status?: number): void;
}

function fakeBind(name: string): FakeBind {
  const pending: ((status?: number) => void)[] = [];
  const bind: FakeBind = {
    outstanding: 0,
    maxOutstanding: 0,
    sent: [],
    submit(to) {
      bind.outstanding++;
      bind.maxOutstanding = Math.max(bind.maxOutstanding, bind.outstanding);
      bind.sent.push(to);
      return new Promise((resolve, reject) =>
        pending.push((status) => {
          bind.outstanding--;
          if (status === undefined) resolve(`${name}-${bind.sent.length}`);
          else reject(new SmppError(`refused ${status}`, status));
        }),
      );
    },
    onMessage() {},
    async close() {},
    answer(status) {
      pending.shift()?.(status);
    },
  };
  return bind;
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('pacing over several binds', () => {
  test('the window per bind, round robin, and a throttled SMS retried first after a pause', async () => {
    const binds = [fakeBind('a'), fakeBind('b')];
    const paced = new PacedSmsLink(binds, { window: 2, backoffMs: 30 });
    const results = Array.from({ length: 6 }, (_, i) => paced.submit(`n${i}`, new Uint8Array(1)));
    await tick();
    assert.deepEqual(
      binds.map((b) => b.sent),
      [
        ['n0', 'n2'],
        ['n1', 'n3'],
      ],
      'round robin, 2 each',
    );
    assert.equal(paced.queued, 2, 'the rest waits for room in a window');
    binds[0]!.answer(ESME.RTHROTTLED); // n0 throttled: back to the head, every bind pauses
    binds[1]!.answer();
    await tick();
    assert.equal(paced.queued, 3);
    assert.equal(binds[0]!.sent.length + binds[1]!.sent.length, 4, 'nothing sent during the pause');
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(
      binds[0]!.sent.concat(binds[1]!.sent).filter((to) => to === 'n0').length,
      2,
      'n0 again first',
    );
    for (let i = 0; i < 10; i++) {
      for (const bind of binds) bind.answer();
      await tick();
    }
    const ids = await Promise.all(results);
    assert.equal(ids.length, 6);
    assert.ok(binds.every((b) => b.maxOutstanding <= 2));
    assert.equal(paced.stats.throttled, 1);
    assert.equal(paced.stats.submitted, 6);
    // another refusal is the caller's
    const refused = paced.submit('n9', new Uint8Array(1));
    await tick();
    for (const bind of binds) bind.answer(ESME.RINVDSTADR);
    await assert.rejects(refused, (e: SmppError) => e.commandStatus === ESME.RINVDSTADR);
    await paced.close();
  });

  test('ready() admits as many callers as the queue depth allows, more as SMS leave', async () => {
    const bind = fakeBind('a');
    const paced = new PacedSmsLink([bind], { window: 1, readyDepth: 2 });
    let admitted = 0;
    const callers = Array.from({ length: 5 }, () =>
      paced.ready().then(async () => {
        admitted++;
        await paced.submit('x', new Uint8Array(1));
      }),
    );
    await tick();
    assert.equal(admitted, 3, 'one SMS on the bind, two places in the queue');
    for (let i = 0; i < 12 && admitted < 5; i++) {
      bind.answer();
      await tick();
      await tick();
    }
    assert.equal(admitted, 5);
    let settled = false;
    const all = Promise.all(callers).then(() => {
      settled = true;
    });
    for (let i = 0; i < 20 && !settled; i++) {
      bind.answer();
      await tick();
      await tick();
    }
    await all;
    assert.equal(bind.maxOutstanding, 1);
    await paced.close();
  });

  test('a throttled paced SMS goes again when its pause ends, not a whole interval later', async () => {
    const bind = fakeBind('a');
    const paced = new PacedSmsLink([bind], { window: 4, tps: 0.5, backoffMs: 10 }); // a 2 s interval
    const first = paced.submit('n0', new Uint8Array(1));
    const second = paced.submit('n1', new Uint8Array(1));
    await tick();
    assert.deepEqual(bind.sent, ['n0'], 'n1 waits for its slot, 2 s on');
    const refusedAt = performance.now();
    bind.answer(ESME.RTHROTTLED); // the SMSC clocked n0 early: a 10 ms pause, then n0 again
    while (bind.sent.length < 2) await new Promise((resolve) => setTimeout(resolve, 5));
    const waited = performance.now() - refusedAt;
    assert.deepEqual(bind.sent, ['n0', 'n0'], 'the refused SMS first');
    // the old pump kept the wake-up set for n1's slot, so the retry waited the whole 2 s interval
    assert.ok(waited < 1000, `the retry came ${waited.toFixed(0)} ms after the refusal`);
    bind.answer();
    assert.match(await first, /^a-/);
    assert.equal(paced.stats.throttled, 1);
    await paced.close();
    await assert.rejects(second, /closed before the SMS/);
  });

  test('the token bucket: no SMS before its slot, a burst back to back', async () => {
    const bind = fakeBind('a');
    const at: number[] = [];
    const timed: SmsLink = {
      ...bind,
      submit(to, userData) {
        at.push(performance.now());
        const sent = bind.submit(to, userData);
        bind.answer();
        return sent;
      },
    };
    const tps = 200; // a 5 ms interval
    const paced = new PacedSmsLink([timed], { window: 4, tps });
    await Promise.all(Array.from({ length: 20 }, (_, i) => paced.submit(`n${i}`, new Uint8Array(1))));
    const gaps = at.slice(1).map((t, i) => t - at[i]!);
    // the slots are decided 5 ms apart; the submit calls land within a few microseconds of them
    assert.ok(
      Math.min(...gaps) >= 1000 / tps - 0.1,
      `never early: the shortest gap is ${Math.min(...gaps)} ms`,
    );
    await paced.close();

    const burst = fakeBind('b');
    const bursting = new PacedSmsLink([burst], { window: 10, tps: 1, burst: 3 });
    const sent = Array.from({ length: 4 }, (_, i) => bursting.submit(`m${i}`, new Uint8Array(1)));
    await tick();
    assert.equal(burst.sent.length, 3, 'three at once from a full bucket, the fourth a second later');
    for (let i = 0; i < 3; i++) burst.answer();
    await Promise.all(sent.slice(0, 3));
    await bursting.close();
    await assert.rejects(sent[3]!, /closed before the SMS/);
    assert.throws(() => new PacedSmsLink([burst], { burst: 0 }), /burst/);
  });
});
