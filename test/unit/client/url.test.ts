import { describe, it, expect } from '@jest/globals';
import { TcpConnection, TlsConnection, WebSocketConnection, connectionFromUrl } from '../../../lib/client/index.js';

describe('connectionFromUrl', () => {
  it.each([
    ['mqtt://broker.example', TcpConnection, 'mqtt://broker.example:1883'],
    ['tcp://10.0.0.1:1884', TcpConnection, 'mqtt://10.0.0.1:1884'],
    ['mqtts://broker.example', TlsConnection, 'mqtts://broker.example:8883'],
    ['tls://broker.example:9999', TlsConnection, 'mqtts://broker.example:9999'],
    ['ws://broker.example:8080/mqtt', WebSocketConnection, 'ws://broker.example:8080/mqtt'],
    ['wss://broker.example/mqtt', WebSocketConnection, 'wss://broker.example/mqtt'],
    ['mqtt://[::1]:1883', TcpConnection, 'mqtt://[::1]:1883'],
  ])('%s', (url, type, brokerUrl) => {
    const c = connectionFromUrl(url);
    expect(c).toBeInstanceOf(type);
    expect(c.brokerUrl).toBe(brokerUrl);
  });

  it('rejects unknown schemes', () => {
    expect(() => connectionFromUrl('http://x')).toThrow(TypeError);
  });
});
