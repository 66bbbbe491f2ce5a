// placeholder, replaced below
export async function watchTransform(_o: { configFile: string; args: string[] }): Promise<void> {
  throw new Error('not yet');
}
