// A prototype's view through node-postgres: simple query, parameterised
// (extended protocol) query, a denied column, then the same connection again.
const { Client } = require('pg');

async function main() {
  const client = new Client({ connectionString: process.env.DSN });
  await client.connect();
  const out = {};
  const simple = await client.query('select patient_id, nhs_number from patients order by patient_id');
  out.simple = simple.rows.map(r => r.nhs_number);
  const ext = await client.query('select name from wards where ward_id = $1', [2]);
  out.extended = ext.rows[0].name;
  try {
    await client.query('select family_name from patients');
    out.denied = 'not denied';
  } catch (e) {
    out.denied = e.code;
  }
  const again = await client.query('select count(ward_id)::int as n from wards');
  out.after = again.rows[0].n;
  await client.end();
  console.log(JSON.stringify(out));
}

main().catch(e => { console.error(e); process.exit(1); });
