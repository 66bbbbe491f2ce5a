// Connecting to SQL Server fails with one line that says what to do. The messages are checked for
// errors shaped as the `mssql` and `tedious` packages make them (their own error classes, causes
// and codes), and end to end with `ferry extract` against a fake TDS endpoint on loopback that
// answers the PRELOGIN with "encryption on" (tedious' own PRELOGIN payload) and then does a real
// TLS handshake, inside PRELOGIN packets, with a self-signed certificate: that run must also
// print nothing of Node's DEP0123 warning (tedious gives the IP host as the TLS servername).
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';
import sql from 'mssql';
import { ConnectionError as TediousConnectionError } from 'tedious';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dropIpServernameWarning, mssqlConfig, mssqlConnectMessage } from '../extract/mssql-source.ts';
import { runFerry, tempDir } from './helpers.ts';

const require = createRequire(import.meta.url);
const PreloginPayload = require('tedious/lib/prelogin-payload.js') as new (options: object) => { data: Buffer };

const URL_ = 'mssql://reader:S3cret-pw@db1.example.com:1433/Legacy';
const config = mssqlConfig({ url: URL_, connections: 1, sourceTimezone: 'UTC', statementTimeoutMs: 1000, connectTimeoutMs: 15_000 });
const origin = { server: 'db1.example.com:1433', database: 'Legacy' };

/** An error as mssql's ConnectionPool rejects with it: mssql ConnectionError → tedious ConnectionError → cause. */
function poolError(message: string, code: string, cause?: Error): Error {
  return new sql.ConnectionError(new TediousConnectionError(message, code, cause ? { cause } : undefined) as unknown as Error);
}

function socketError(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

describe('mssql connection errors: one line with the fix', () => {
  it('login failed (18456): wrong password or login disabled', () => {
    expect(mssqlConnectMessage(poolError("Login failed for user 'reader'.", 'ELOGIN'), config, origin)).toBe(
      "cannot connect to SQL Server at db1.example.com:1433/Legacy: login failed for user 'reader' (SQL Server error 18456): the password is wrong, " +
        'the login is disabled or does not exist, or the server accepts only Windows logins (turn on SQL Server and Windows Authentication mode); ' +
        "check the user and password in the URL (the server's error log says which)",
    );
  });

  it('database not there or not open to the login (4060)', () => {
    const err = poolError('Cannot open database "Legacy" requested by the login. The login failed.', 'ELOGIN');
    expect(mssqlConnectMessage(err, config, origin)).toBe(
      'cannot connect to SQL Server at db1.example.com:1433/Legacy: login \'reader\' cannot open database "Legacy" (SQL Server error 4060): ' +
        'it does not exist or the login has no user in it; check the database in the URL, or map the login to a user there',
    );
  });

  it('nothing listening: TCP, port, SQL Browser for named instances, firewall', () => {
    const refused = new AggregateError([socketError('connect ECONNREFUSED 10.0.0.5:1433', 'ECONNREFUSED')], 'Could not connect (sequence)');
    const err = poolError('Failed to connect to db1.example.com:1433 - Could not connect (sequence)', 'ESOCKET', refused);
    expect(mssqlConnectMessage(err, config, origin)).toBe(
      'cannot connect to SQL Server at db1.example.com:1433/Legacy: nothing accepted a TCP connection at db1.example.com:1433: ' +
        'check that SQL Server runs there and listens on TCP (SQL Server Configuration Manager: TCP/IP enabled, then restart it), that the port is right ' +
        '(default 1433; a named instance has its own port: put it in the URL, or give ?instanceName=NAME with the SQL Server Browser service running), ' +
        'and that no firewall is in the way',
    );
    const timeout = poolError('Failed to connect to db1.example.com:1433 in 15000ms', 'ETIMEOUT');
    expect(mssqlConnectMessage(timeout, config, origin)).toMatch(/: no answer from db1\.example\.com:1433 within 15 s: check that SQL Server runs there and listens on TCP/);
  });

  it('named instance: the SQL Server Browser did not answer', () => {
    const named = mssqlConfig({ url: 'mssql://reader:pw@db1/Legacy?instanceName=SALES', connections: 1, sourceTimezone: 'UTC', statementTimeoutMs: 1, connectTimeoutMs: 1 });
    const err = poolError('Failed to get response from SQL Server Browser on db1', 'EINSTLOOKUP');
    expect(mssqlConnectMessage(err, named, { server: 'db1', database: 'Legacy' })).toBe(
      'cannot connect to SQL Server at db1/Legacy: no answer from the SQL Server Browser on db1 (UDP 1434) for instance SALES: ' +
        "start the SQL Server Browser service and let UDP 1434 through, or put the instance's TCP port in the URL instead of instanceName",
    );
  });

  it('self-signed certificate: trustServerCertificate=true or a CA', () => {
    const err = poolError('Failed to connect to db1.example.com:1433 - self-signed certificate', 'ESOCKET', socketError('self-signed certificate', 'DEPTH_ZERO_SELF_SIGNED_CERT'));
    expect(mssqlConnectMessage(err, config, origin)).toBe(
      "cannot connect to SQL Server at db1.example.com:1433/Legacy: the server's TLS certificate is not trusted (self-signed certificate): " +
        'add trustServerCertificate=true to the URL (encrypts, but does not check who the server is), or make the CA that signed it trusted (NODE_EXTRA_CA_CERTS=/path/to/ca.pem)',
    );
    const altname = poolError('Failed to connect to db1.example.com:1433 - Hostname/IP does not match certificate\'s altnames', 'ESOCKET', socketError("Hostname/IP does not match certificate's altnames", 'ERR_TLS_CERT_ALTNAME_INVALID'));
    expect(mssqlConnectMessage(altname, config, origin)).toMatch(/certificate is not issued for db1\.example\.com: connect by the host name the certificate names, or add trustServerCertificate=true/);
  });

  it('unknown host, and anything else as the driver says it, on one line and without the password', () => {
    const dns = poolError('Failed to connect to db1.example.com:1433 - getaddrinfo ENOTFOUND db1.example.com', 'ESOCKET', socketError('getaddrinfo ENOTFOUND db1.example.com', 'ENOTFOUND'));
    expect(mssqlConnectMessage(dns, config, origin)).toBe('cannot connect to SQL Server at db1.example.com:1433/Legacy: the host name db1.example.com does not resolve (DNS): check the host in the URL');
    const odd = poolError(`strange\nthing at ${URL_}`, 'EFOO');
    const line = mssqlConnectMessage(odd, config, origin);
    expect(line).toBe('cannot connect to SQL Server at db1.example.com:1433/Legacy: strange thing at mssql://reader:***@db1.example.com:1433/Legacy');
  });
});

describe('DEP0123 (TLS servername that is an IP address)', () => {
  it('drops that warning and no other', async () => {
    dropIpServernameWarning();
    const seen: string[] = [];
    const onWarning = (w: Error & { code?: string }) => seen.push(w.code ?? w.name);
    process.on('warning', onWarning);
    try {
      process.emitWarning('Setting the TLS ServerName to an IP address is not permitted by RFC 6066.', 'DeprecationWarning', 'DEP0123');
      process.emitWarning('something else', { type: 'DeprecationWarning', code: 'DEP0999' });
      process.emitWarning('Setting the TLS ServerName …', { type: 'DeprecationWarning', code: 'DEP0123' });
      await new Promise((r) => setImmediate(r));
      expect(seen).toEqual(['DEP0999']);
    } finally {
      process.off('warning', onWarning);
    }
  });
});

/** TDS packet: type, status 1 (end of message), length, spid 0, packet id 1, window 0. */
function tdsPacket(type: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header[0] = type;
  header[1] = 1;
  header.writeUInt16BE(8 + payload.length, 2);
  header[6] = 1;
  return Buffer.concat([header, payload]);
}

/**
 * A TDS endpoint that says "encryption on" and then passes the TLS handshake (carried in PRELOGIN
 * packets, one reply message per client message) to a real TLS server with the given certificate.
 */
async function fakeTlsTdsServer(key: Buffer, cert: Buffer): Promise<{ port: number; close(): Promise<void> }> {
  const tlsServer = tls.createServer({ key, cert, maxVersion: 'TLSv1.2' }, (s) => s.on('error', () => undefined));
  tlsServer.on('tlsClientError', () => undefined);
  await new Promise<void>((r) => tlsServer.listen(0, '127.0.0.1', r));
  const tlsPort = (tlsServer.address() as net.AddressInfo).port;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    let pending = Buffer.alloc(0);
    let parts: Buffer[] = [];
    let messages = 0;
    let inner: net.Socket | undefined;
    let reply: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    const flush = () => {
      if (reply.length) socket.write(tdsPacket(0x12, Buffer.concat(reply)));
      reply = [];
    };
    const onMessage = (message: Buffer) => {
      if (messages++ === 0) {
        socket.write(tdsPacket(0x04, new PreloginPayload({ encrypt: true, version: { major: 16, minor: 0, build: 1000, subbuild: 0 } }).data));
        return;
      }
      if (!inner) {
        inner = net.connect(tlsPort, '127.0.0.1');
        sockets.add(inner);
        inner.on('error', () => socket.destroy());
        inner.on('close', () => socket.destroy());
        // The TLS server's answer to one client flight goes back as one message.
        inner.on('data', (d: Buffer) => {
          reply.push(d);
          clearTimeout(timer);
          timer = setTimeout(flush, 50);
        });
      }
      inner.write(message);
    };
    socket.on('data', (d: Buffer) => {
      pending = Buffer.concat([pending, d]);
      while (pending.length >= 8 && pending.length >= pending.readUInt16BE(2)) {
        const length = pending.readUInt16BE(2);
        parts.push(pending.subarray(8, length));
        const last = (pending[1] & 1) === 1;
        pending = pending.subarray(length);
        if (last) {
          onMessage(Buffer.concat(parts));
          parts = [];
        }
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
      await new Promise((r) => tlsServer.close(r));
    },
  };
}

describe('ferry extract against a TDS endpoint with a self-signed certificate (IP host, TLS)', () => {
  let server: Awaited<ReturnType<typeof fakeTlsTdsServer>>;
  beforeAll(async () => {
    const dir = await tempDir('ferry-mssql-tls-');
    await promisify(execFile)('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=sqlserver.test',
      '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'),
    ]);
    server = await fakeTlsTdsServer(await readFile(path.join(dir, 'key.pem')), await readFile(path.join(dir, 'cert.pem')));
  });
  afterAll(async () => {
    await server?.close();
  });

  it('prints one line that names the fix, and no DEP0123 warning', async () => {
    const r = await runFerry(['extract', '--from', `mssql://sa:Sup3r-S3cret@127.0.0.1:${server.port}/legacy`, '--out', await tempDir('ferry-mssql-')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `ferry: cannot connect to SQL Server at 127.0.0.1:${server.port}/legacy: the server's TLS certificate is not trusted (self-signed certificate): ` +
        'add trustServerCertificate=true to the URL (encrypts, but does not check who the server is), or make the CA that signed it trusted (NODE_EXTRA_CA_CERTS=/path/to/ca.pem)\n',
    );
    expect(r.stderr).not.toContain('DEP0123');
    expect(r.stderr).not.toContain('Sup3r-S3cret');
  });
});
