/**
 * Progress on stderr while optimize works, kept short: one line per phase per module, a runner this
 * machine lacks noted once per run (its reason says what to do), and a counter for long phases
 * (candidates done / total, elapsed, time left). Per-step detail only with NAV_PROGRESS=detailed.
 */
export interface ProgressOptions {
  /** Rewrite the counter's line in place (a terminal). @default stderr is a TTY */
  interactive?: boolean;
  /** Also print per-step detail (each candidate checked, each conversion's notes). @default NAV_PROGRESS=detailed */
  detailed?: boolean;
  /** A non-interactive counter prints at most once per this many ms. @default 5000 */
  counterIntervalMs?: number;
}

/** A long phase of one module: ticks as items finish. */
export interface Counter {
  /** One item done (what it was, for the detailed log). */
  tick(what?: string): void;
  /** More items joined the phase (e.g. a runner's other settings). */
  add(items: number): void;
  /** The phase ended: one closing line. */
  done(summary?: string): void;
}

export class Progress {
  private readonly started = Date.now();
  private readonly noted = new Set<string>();
  private readonly interactive: boolean;
  private readonly detailed: boolean;
  private readonly intervalMs: number;
  private readonly write: (line: string) => void;

  /** `write`: where lines go. @default stderr */
  constructor(
    private readonly enabled: boolean,
    write?: (line: string) => void,
    options: ProgressOptions = {},
  ) {
    this.write = write ?? ((line) => process.stderr.write(`${line}\n`));
    this.interactive = options.interactive ?? (enabled && !write && process.stderr.isTTY === true);
    this.detailed = options.detailed ?? process.env.NAV_PROGRESS === 'detailed';
    this.intervalMs = options.counterIntervalMs ?? 5000;
  }

  /** One line about a module: a phase starting or its outcome. */
  step(module: string, message: string): void {
    if (this.enabled) this.write(`[nav ${this.elapsed()}] ${module}: ${message}`);
  }

  /** Per-step detail, printed only when detailed progress is asked for. */
  detail(module: string, message: string): void {
    if (this.detailed) this.step(module, message);
  }

  info(message: string): void {
    if (this.enabled) this.write(`[nav ${this.elapsed()}] ${message}`);
  }

  /** A runner this machine cannot use: noted the first time in this run only, whichever module asks. */
  unavailable(runner: string, reason: string): void {
    if (this.noted.has(runner)) return;
    this.noted.add(runner);
    this.info(`runner ${runner} is not available on this machine; its candidates are skipped. ${reason}`);
  }

  /** Printed even when not verbose: something the user should know. */
  warn(message: string): void {
    this.write(`[nav] warning: ${message}`);
  }

  print(text: string): void {
    if (this.enabled) this.write(text);
  }

  /** A counter for a long phase of a module: a start line, a count every few seconds (or in place on a terminal), an end line. */
  counter(module: string, phase: string, total: number): Counter {
    const started = Date.now();
    let done = 0;
    let lastPrint = started;
    const line = () => {
      const elapsed = (Date.now() - started) / 1000;
      const left = done > 0 && done < total ? `, about ${((elapsed / done) * (total - done)).toFixed(0)}s left` : '';
      return `${module}: ${phase} ${done}/${total}, ${elapsed.toFixed(1)}s${left}`;
    };
    this.step(module, `${phase}: ${total} to go`);
    return {
      tick: (what) => {
        done++;
        if (what) this.detail(module, `${phase}: ${what}`);
        if (!this.enabled) return;
        if (this.interactive) process.stderr.write(`\r\x1b[K[nav ${this.elapsed()}] ${line()}`);
        else if (Date.now() - lastPrint >= this.intervalMs && done < total) {
          lastPrint = Date.now();
          this.write(`[nav ${this.elapsed()}] ${line()}`);
        }
      },
      add: (items) => {
        total += items;
      },
      done: (summary) => {
        if (this.enabled && this.interactive) process.stderr.write('\r\x1b[K');
        this.step(module, `${phase}: ${done}/${total} in ${((Date.now() - started) / 1000).toFixed(1)}s${summary ? `; ${summary}` : ''}`);
      },
    };
  }

  private elapsed(): string {
    return `${((Date.now() - this.started) / 1000).toFixed(1)}s`;
  }
}
