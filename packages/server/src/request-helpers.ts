import type { Context } from 'koa';
import type { z } from 'zod';
import { formatIssues, SpeechError } from '@talkies/core';

/** Parse with zod; failures are 422 with every problem listed. */
export function validate<Schema extends z.ZodType>(schema: Schema, value: unknown): z.output<Schema> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const lines = formatIssues(parsed.error.issues);
    const param = parsed.error.issues[0]?.path.map(String).join('.') || undefined;
    throw new SpeechError('VALIDATION_FAILED', `invalid request: ${lines.join('; ')}`, { param });
  }
  return parsed.data;
}

/** An AbortSignal that fires when the client goes away before the response is sent. */
export function requestSignal(ctx: Context): AbortSignal {
  const existing = ctx.state.abortSignal as AbortSignal | undefined;
  if (existing) return existing;
  const controller = new AbortController();
  const onClose = () => {
    if (!ctx.res.writableFinished) controller.abort(new SpeechError('ABORTED', 'client disconnected'));
  };
  ctx.res.once('close', onClose);
  ctx.state.abortSignal = controller.signal;
  return controller.signal;
}
