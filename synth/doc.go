// Package synth generates synthetic UK patient records: deterministic,
// streaming, and fast enough to fill a scratch database in seconds.
//
// Every value is a pure function of (seed, table, row index). A child row
// (an encounter, a condition, an observation, a medication) finds its parent
// by arithmetic on its own index, so tables can be generated in any order, in
// parallel, or one row at a time, and foreign keys hold without keeping the
// parents in memory. The same seed gives the same bytes on any machine: the
// generators use integer arithmetic only (no math/rand global, no floating
// point in value derivation, no map iteration).
//
// What it holds: NHS numbers (valid modulus 11, in the 999 range that is never
// issued to a person), names by sex, dates of birth on an age pyramid,
// addresses on real outward codes, phone numbers in Ofcom's drama ranges,
// e-mail addresses on reserved domains, GP practice codes, NHS ethnicity
// codes, SNOMED CT conditions with prevalence by age and sex, observations
// whose distributions depend on those conditions, encounters and medications.
// Datasets are described by a YAML [Spec]; [Builtin] returns the embedded
// "ehr" spec. [Load] creates and fills the tables through COPY. [Replace]
// gives the pseudonymisation engine a consistent fake value for a key.
//
// What it deliberately leaves out: it is not a clinical simulation (no
// disease progression or care pathways, as Synthea models), its code lists
// are small samples rather than full terminologies, and postcodes are
// format-valid on real outward codes but not checked against the Postcode
// Address File. Nothing here is drawn from real patient data.
package synth
