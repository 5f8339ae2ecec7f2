// What the demo tells: chapters and lines for people as they happen, and the same facts gathered into
// one JSON summary (`npm run demo -- --json`, docs/json.md) printed at the end.
import { print, printJson } from '../output.js';

export class Report {
  private chapterNumber = 0;
  readonly summary: Record<string, unknown> = {};

  constructor(private readonly json: boolean) {}

  chapter(title: string): void {
    this.chapterNumber++;
    if (!this.json) print(`\n[${this.chapterNumber}] ${title}`);
  }

  line(text: string): void {
    if (!this.json) print(`    ${text}`);
  }

  /** Records a fact of the summary under `key`. */
  set(key: string, value: unknown): void {
    this.summary[key] = value;
  }

  finish(text: string): void {
    if (this.json) printJson(this.summary);
    else print(`\n${text}`);
  }
}
