/** Progress lines on stderr while optimize works: which module, which step, which candidate. */
export class Progress {
  private readonly started = Date.now();

  constructor(
    private readonly enabled: boolean,
    private readonly write: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
  ) {}

  step(module: string, message: string): void {
    if (this.enabled) this.write(`[nav ${this.elapsed()}] ${module}: ${message}`);
  }

  info(message: string): void {
    if (this.enabled) this.write(`[nav ${this.elapsed()}] ${message}`);
  }

  /** Printed even when not verbose: something the user should know. */
  warn(message: string): void {
    this.write(`[nav] warning: ${message}`);
  }

  print(text: string): void {
    if (this.enabled) this.write(text);
  }

  private elapsed(): string {
    return `${((Date.now() - this.started) / 1000).toFixed(1)}s`;
  }
}
