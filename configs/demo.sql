-- Fictional patients for the demo. Every NHS number is in the 999 range
-- reserved for test data; no row describes a real person.
CREATE TABLE patients (
    patient_id    integer PRIMARY KEY,
    nhs_number    text NOT NULL,
    given_name    text NOT NULL,
    family_name   text NOT NULL,
    sex           text NOT NULL,
    date_of_birth date NOT NULL,
    postcode      text NOT NULL,
    diagnosis     text
);
INSERT INTO patients VALUES
 (1, '9990000018', 'Amelia', 'Hartley',   'F', '1948-03-12', 'LS1 4AP',  'Type 2 diabetes'),
 (2, '9990000026', 'Oliver', 'Brennan',   'M', '1975-11-02', 'M13 9PL',  'Hypertension'),
 (3, '9990000034', 'Priya',  'Raman',     'F', '1990-07-23', 'B15 2TT',  'Asthma'),
 (4, '9990000042', 'George', 'Whitfield', 'M', '1933-01-30', 'NE1 7RU',  'Type 2 diabetes'),
 (5, '9990000050', 'Isla',   'McKenzie',  'F', '2004-05-17', 'EH8 9YL',  NULL);
