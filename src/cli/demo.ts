/** `realip demo` (filled in by its issue). */
export async function run(_argv: string[]): Promise<number> {
  process.stderr.write('realip demo: not implemented yet\n');
  return 1;
}
