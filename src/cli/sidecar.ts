/** `realip sidecar` (filled in by its issue). */
export async function run(_argv: string[]): Promise<number> {
  process.stderr.write('realip sidecar: not implemented yet\n');
  return 1;
}
