export { };
export class MssqlSource {}
