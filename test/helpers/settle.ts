/** How long a call may take before the hostile-input suites call it a hang. */
export const HANG_MS = 5_000;

/** Settles `promise` within `hangMs`, or reports a hang as its error. */
export async function settle<T>(promise: Promise<T> | T, hangMs = HANG_MS): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`hung for ${hangMs} ms`)), hangMs);
  });
  try {
    return { ok: true, value: await Promise.race([Promise.resolve(promise), hang]) };
  } catch (error) {
    return { ok: false, error };
  } finally {
    clearTimeout(timer);
  }
}
