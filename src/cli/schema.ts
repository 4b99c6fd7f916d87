/** `realip schema` (filled in by its issue). */
export async function run(_argv: string[]): Promise<number> {
  process.stderr.write('realip schema: not implemented yet\n');
  return 1;
}
