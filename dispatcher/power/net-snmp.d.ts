// The part of `net-snmp` (CommonJS, no bundled types) that the snmp-poe driver and its test use.
declare module 'net-snmp' {
  namespace snmp {
    type SessionT = Session;
    type VarbindT = Varbind;
    export { SessionT as Session, VarbindT as Varbind };
  }
  interface Varbind {
    oid: string;
    type?: number;
    value?: unknown;
  }
  interface SessionOptions {
    port?: number;
    retries?: number;
    timeout?: number;
    backoff?: number;
    transport?: 'udp4' | 'udp6';
    version?: number;
    context?: string;
    idBitsSize?: 16 | 32;
  }
  interface User {
    name: string;
    level: number;
    authProtocol?: number;
    authKey?: string;
    privProtocol?: number;
    privKey?: string;
  }
  type Callback = (error: Error | null, varbinds?: Varbind[]) => void;
  interface Session {
    get(oids: string[], callback: Callback): void;
    set(varbinds: Varbind[], callback: Callback): void;
    close(): void;
    on(event: 'error', listener: (error: Error) => void): this;
    on(event: 'close', listener: () => void): this;
  }
  class RequestFailedError extends Error {
    status: number;
  }
  class RequestTimedOutError extends Error {}
  class ResponseInvalidError extends Error {}
  const snmp: {
    Version1: number;
    Version2c: number;
    Version3: number;
    ObjectType: Record<string, number> & { Integer: number; NoSuchObject: number; NoSuchInstance: number; EndOfMibView: number };
    SecurityLevel: { noAuthNoPriv: number; authNoPriv: number; authPriv: number };
    AuthProtocols: Record<'md5' | 'sha' | 'sha224' | 'sha256' | 'sha384' | 'sha512', number>;
    PrivProtocols: Record<'des' | 'aes' | 'aes256b' | 'aes256r', number>;
    ErrorStatus: Record<string, number | string>;
    createSession(target: string, community: string, options?: SessionOptions): Session;
    createV3Session(target: string, user: User, options?: SessionOptions): Session;
    isVarbindError(varbind: Varbind): boolean;
    varbindError(varbind: Varbind): string;
    RequestFailedError: typeof RequestFailedError;
    RequestTimedOutError: typeof RequestTimedOutError;
    ResponseInvalidError: typeof ResponseInvalidError;
  };
  export = snmp;
}
