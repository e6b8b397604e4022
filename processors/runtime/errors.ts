/** Error codes AirDig raises itself. Each error says whether retrying the same operation can succeed. */
export const ErrorCodes = {
  CONFIG_INVALID: 'AIRDIG_CONFIG_INVALID',
  BUS_FULL: 'AIRDIG_BUS_FULL',
  BUS_UNAVAILABLE: 'AIRDIG_BUS_UNAVAILABLE',
  BUS_CLOSED: 'AIRDIG_BUS_CLOSED',
  STORE_UNAVAILABLE: 'AIRDIG_STORE_UNAVAILABLE',
  STORE_REJECTED: 'AIRDIG_STORE_REJECTED',
  MIGRATION_FAILED: 'AIRDIG_MIGRATION_FAILED',
  MALFORMED_INPUT: 'AIRDIG_MALFORMED_INPUT',
  READ_ONLY: 'AIRDIG_READ_ONLY',
} as const;
export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export interface AirdigErrorOptions {
  cause?: unknown;
  retryable?: boolean;
}

export class AirdigError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  constructor(code: ErrorCode, message: string, options: AirdigErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = options.retryable ?? false;
  }
}

/** A user mistake in configuration: reported with its key path, never with a stack trace. */
export class ConfigError extends AirdigError {
  readonly issues: readonly string[];
  constructor(issues: readonly string[]) {
    super(ErrorCodes.CONFIG_INVALID, issues.join('\n'));
    this.issues = issues;
  }
}

/** The bus cannot take more right now; the caller keeps its data and retries later. */
export class BusFullError extends AirdigError {
  constructor(message: string) {
    super(ErrorCodes.BUS_FULL, message, { retryable: true });
  }
}

export class BusUnavailableError extends AirdigError {
  constructor(message: string, cause?: unknown) {
    super(ErrorCodes.BUS_UNAVAILABLE, message, { cause, retryable: true });
  }
}

export class StoreError extends AirdigError {
  readonly clickhouseCode: number | undefined;
  constructor(code: ErrorCode, message: string, options: AirdigErrorOptions & { clickhouseCode?: number } = {}) {
    super(code, message, options);
    this.clickhouseCode = options.clickhouseCode;
  }
}

/** Input that can never be processed as it is: it goes to the dead-letter topic, not back to the queue. */
export class MalformedInputError extends AirdigError {
  constructor(message: string, cause?: unknown) {
    super(ErrorCodes.MALFORMED_INPUT, message, { cause, retryable: false });
  }
}

export function isRetryable(err: unknown): boolean {
  if (err instanceof AirdigError) return err.retryable;
  return false;
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
