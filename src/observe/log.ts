// Structured logs: one JSON object per line on stderr (access logs go to stdout).
// Never log secrets or keys: callers pass names of objects, not their contents.

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  enabled(level: LogLevel): boolean;
  /** A logger that adds `fields` to every line. */
  child(fields: LogFields): Logger;
}

export interface LogSink {
  write(line: string): void;
}

class JsonLogger implements Logger {
  private readonly min: number;
  private readonly sink: LogSink;
  private readonly base: LogFields;

  constructor(min: number, sink: LogSink, base: LogFields) {
    this.min = min;
    this.sink = sink;
    this.base = base;
  }

  enabled(level: LogLevel): boolean {
    return ORDER[level] >= this.min;
  }

  child(fields: LogFields): Logger {
    return new JsonLogger(this.min, this.sink, { ...this.base, ...fields });
  }

  debug(msg: string, fields?: LogFields): void {
    this.log('debug', msg, fields);
  }
  info(msg: string, fields?: LogFields): void {
    this.log('info', msg, fields);
  }
  warn(msg: string, fields?: LogFields): void {
    this.log('warn', msg, fields);
  }
  error(msg: string, fields?: LogFields): void {
    this.log('error', msg, fields);
  }

  private log(level: LogLevel, msg: string, fields?: LogFields): void {
    if (ORDER[level] < this.min) return;
    const entry: LogFields = { time: new Date().toISOString(), level, msg, ...this.base, ...fields };
    for (const k in entry) {
      const v = entry[k];
      if (v instanceof Error) entry[k] = v.message;
    }
    this.sink.write(JSON.stringify(entry) + '\n');
  }
}

export function createLogger(level: LogLevel = 'info', sink: LogSink = process.stderr): Logger {
  return new JsonLogger(ORDER[level], sink, {});
}

/** A logger that drops everything, for tests and benchmarks. */
export const silentLogger: Logger = createLogger('error', { write() {} }).child({});
