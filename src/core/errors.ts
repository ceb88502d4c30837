/**
 * Every error the navigator raises is built here, so that each one names the module, the input or
 * setting at fault, and what to do about it.
 */
export interface ErrorContext {
  /** The navModule name the error is about. */
  module?: string;
  /** The model input, output, config property or file the error is about. */
  subject?: string;
  /** What the user can do about it. */
  fix?: string;
  /** Stable, machine-readable kind of error, for callers that map errors to answers (e.g. 'NAV_QUEUE_FULL' to HTTP 503). */
  code?: string;
  cause?: unknown;
}

export class NavigatorError extends Error {
  readonly module?: string;
  readonly subject?: string;
  readonly fix?: string;
  readonly code?: string;

  constructor(problem: string, context: ErrorContext = {}) {
    super(formatMessage(problem, context), context.cause === undefined ? undefined : { cause: context.cause });
    this.name = 'NavigatorError';
    this.module = context.module;
    this.subject = context.subject;
    this.fix = context.fix;
    this.code = context.code;
  }
}

function formatMessage(problem: string, { module, subject, fix, cause }: ErrorContext): string {
  const where = [module && `module "${module}"`, subject && `"${subject}"`].filter(Boolean).join(', ');
  const reason = cause === undefined ? '' : `\n  Reason: ${errorText(cause)}`;
  return `${where ? `${where}: ` : ''}${problem}${reason}${fix ? `\n  Fix: ${fix}` : ''}`;
}

/** The message of anything thrown, for status files and reports. */
export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
