/**
 * At most one run in flight among the worker pools that share a gate. Concurrent WebGPU sessions
 * crashed onnxruntime, also when they belonged to different modules, so every pool of a GPU recipe
 * in the process goes through GPU_GATE before it sends a call to its worker.
 */
export class RunGate {
  /** The worker slot whose run holds the gate. */
  private holder: object | undefined;
  /** Pools waiting for their turn, in arrival order. */
  private readonly waiting: (() => void)[] = [];

  /** Whether `holder` may send its run now; when not, `wake` is called once the gate frees (at most once per wait). */
  tryEnter(holder: object, wake: () => void): boolean {
    if (this.holder === undefined) {
      this.holder = holder;
      return true;
    }
    if (!this.waiting.includes(wake)) this.waiting.push(wake);
    return false;
  }

  /** Frees the gate after `holder`'s run; the waiting pools are woken in order until one enters (one may have nothing left to send). */
  leave(holder: object): void {
    if (this.holder !== holder) return;
    this.holder = undefined;
    while (this.holder === undefined && this.waiting.length > 0) this.waiting.shift()!();
  }
}

/** The one gate of every served WebGPU (GPU-runner) session in this process. */
export const GPU_GATE = new RunGate();
