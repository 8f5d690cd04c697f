package synth

// Demographic code lists. They are deliberately short samples with rounded
// weights: enough for realistic-looking data, small enough to read.

type nameFreq struct {
	name string
	w    int // relative frequency
}

// givenFemale and givenMale mix the most frequent names of several birth
// cohorts, weights rounded, after ONS "Baby names in England and Wales"
// (1954–2021 top-100 lists) so that both older and younger patients look
// plausible.
var givenFemale = []nameFreq{
	{"Margaret", 40}, {"Susan", 45}, {"Patricia", 25}, {"Christine", 30}, {"Linda", 25},
	{"Elizabeth", 35}, {"Mary", 35}, {"Jean", 20}, {"Barbara", 18}, {"Dorothy", 12},
	{"Sandra", 25}, {"Karen", 35}, {"Julie", 35}, {"Deborah", 25}, {"Jacqueline", 20},
	{"Sarah", 50}, {"Helen", 35}, {"Claire", 35}, {"Nicola", 30}, {"Lisa", 30},
	{"Emma", 45}, {"Rebecca", 35}, {"Laura", 35}, {"Rachel", 30}, {"Gemma", 25},
	{"Hannah", 30}, {"Amy", 30}, {"Charlotte", 35}, {"Lucy", 30}, {"Sophie", 30},
	{"Jessica", 30}, {"Emily", 35}, {"Chloe", 25}, {"Olivia", 35}, {"Amelia", 30},
	{"Isla", 20}, {"Ava", 20}, {"Mia", 18}, {"Grace", 22}, {"Freya", 18},
	{"Ella", 18}, {"Lily", 20}, {"Evie", 15}, {"Ruby", 15}, {"Fatima", 10},
	{"Aisha", 8}, {"Zara", 8}, {"Priya", 6}, {"Anne", 25}, {"Catherine", 25},
}

var givenMale = []nameFreq{
	{"David", 60}, {"John", 55}, {"Michael", 45}, {"Paul", 40}, {"Andrew", 40},
	{"Peter", 35}, {"James", 55}, {"Robert", 40}, {"Mark", 35}, {"Richard", 35},
	{"Stephen", 35}, {"Christopher", 35}, {"Daniel", 35}, {"Thomas", 40}, {"Matthew", 30},
	{"William", 35}, {"George", 30}, {"Oliver", 35}, {"Harry", 30}, {"Jack", 35},
	{"Jacob", 18}, {"Noah", 20}, {"Charlie", 20}, {"Alfie", 15}, {"Joshua", 25},
	{"Samuel", 25}, {"Benjamin", 22}, {"Joseph", 25}, {"Liam", 15}, {"Ryan", 20},
	{"Adam", 25}, {"Luke", 22}, {"Alexander", 20}, {"Edward", 18}, {"Anthony", 25},
	{"Kevin", 20}, {"Gary", 20}, {"Ian", 25}, {"Simon", 22}, {"Brian", 18},
	{"Kenneth", 12}, {"Alan", 20}, {"Keith", 15}, {"Graham", 15}, {"Muhammad", 15},
	{"Mohammed", 12}, {"Arjun", 5}, {"Leo", 18}, {"Oscar", 18}, {"Arthur", 15},
}

// familyNames are common surnames in England and Wales with rounded relative
// frequencies, after the ONS surname frequency list (2002 NHS Central
// Register extract) as republished by ONS.
var familyNames = []nameFreq{
	{"Smith", 55}, {"Jones", 43}, {"Williams", 29}, {"Taylor", 24}, {"Brown", 22},
	{"Davies", 20}, {"Evans", 17}, {"Wilson", 15}, {"Thomas", 15}, {"Johnson", 14},
	{"Roberts", 14}, {"Robinson", 12}, {"Thompson", 12}, {"Wright", 12}, {"Walker", 12},
	{"White", 11}, {"Edwards", 11}, {"Hughes", 11}, {"Green", 11}, {"Hall", 11},
	{"Lewis", 11}, {"Harris", 11}, {"Clarke", 10}, {"Patel", 10}, {"Jackson", 10},
	{"Wood", 10}, {"Turner", 9}, {"Martin", 9}, {"Cooper", 9}, {"Hill", 9},
	{"Ward", 9}, {"Morris", 9}, {"Moore", 9}, {"Clark", 9}, {"Lee", 8},
	{"King", 8}, {"Baker", 8}, {"Harrison", 8}, {"Morgan", 8}, {"Allen", 8},
	{"James", 7}, {"Scott", 7}, {"Phillips", 7}, {"Watson", 7}, {"Davis", 7},
	{"Parker", 7}, {"Price", 7}, {"Bennett", 7}, {"Young", 7}, {"Griffiths", 7},
	{"Mitchell", 6}, {"Kelly", 6}, {"Cook", 6}, {"Carter", 6}, {"Richardson", 6},
	{"Bailey", 6}, {"Collins", 6}, {"Bell", 6}, {"Shaw", 6}, {"Murphy", 6},
	{"Khan", 5}, {"Ali", 4}, {"Hussain", 4}, {"Begum", 4}, {"Singh", 4},
	{"Campbell", 5}, {"Anderson", 5}, {"Ellis", 5}, {"Adams", 5}, {"Mason", 5},
}

// ageBand is a five-year band of the population pyramid (the last band is
// 90–99 here; the census band is 90+).
type ageBand struct {
	from int // first age in the band
	w    int // thousands of people
}

// agePyramid is the population of England and Wales by age, mid-2022, in
// thousands, rounded: ONS "Population estimates for England and Wales:
// mid-2022" (MYE2).
var agePyramid = []ageBand{
	{0, 3250}, {5, 3590}, {10, 3710}, {15, 3500}, {20, 3680}, {25, 3920},
	{30, 4120}, {35, 4010}, {40, 3830}, {45, 3670}, {50, 4100}, {55, 4120},
	{60, 3640}, {65, 3120}, {70, 2990}, {75, 2430}, {80, 1600}, {85, 950},
	{90, 550},
}

// femalePer100k is the share of women in the population of England and
// Wales, Census 2021 (51.0%).
const femalePer100k = 51000

type outward struct {
	code, town string
}

// outwardCodes are real postcode districts with their post towns (Royal Mail
// PAF district list); inward codes are generated, so whole postcodes are
// format-valid but not necessarily delivery points.
var outwardCodes = []outward{
	{"LS1", "Leeds"}, {"LS6", "Leeds"}, {"M1", "Manchester"}, {"M14", "Manchester"},
	{"B15", "Birmingham"}, {"B29", "Birmingham"}, {"SW1A", "London"}, {"E1", "London"},
	{"N1", "London"}, {"NW3", "London"}, {"SE10", "London"}, {"EC1A", "London"},
	{"WC1E", "London"}, {"W2", "London"}, {"EH1", "Edinburgh"}, {"G12", "Glasgow"},
	{"CF10", "Cardiff"}, {"BS8", "Bristol"}, {"NE1", "Newcastle upon Tyne"}, {"L8", "Liverpool"},
	{"S10", "Sheffield"}, {"NG7", "Nottingham"}, {"OX1", "Oxford"}, {"CB2", "Cambridge"},
	{"BT7", "Belfast"}, {"PL4", "Plymouth"}, {"EX4", "Exeter"}, {"YO1", "York"},
	{"LE1", "Leicester"}, {"CV1", "Coventry"}, {"BN1", "Brighton"}, {"SO17", "Southampton"},
	{"NR2", "Norwich"}, {"AB10", "Aberdeen"}, {"DD1", "Dundee"}, {"SA1", "Swansea"},
	{"HU5", "Hull"}, {"ST4", "Stoke-on-Trent"}, {"DE1", "Derby"}, {"PE1", "Peterborough"},
	{"CH1", "Chester"}, {"IP1", "Ipswich"}, {"TR1", "Truro"}, {"LA1", "Lancaster"},
	{"DH1", "Durham"}, {"BD1", "Bradford"}, {"WV1", "Wolverhampton"}, {"RG1", "Reading"},
}

// inwardLetters are the letters allowed in the unit part of a postcode (not
// C, I, K, M, O or V): BS 7666 and the Royal Mail Programmers' Guide.
const inwardLetters = "ABDEFGHJLNPQRSTUWXYZ"

// streets are frequent English street names (Ordnance Survey Open Names).
var streets = []string{
	"High Street", "Station Road", "Main Street", "Park Road", "Church Road",
	"Church Street", "London Road", "Victoria Road", "Green Lane", "Manor Road",
	"Church Lane", "Park Avenue", "The Avenue", "The Crescent", "Queens Road",
	"New Road", "Grange Road", "Kings Road", "Alexandra Road", "Mill Lane",
	"Albert Road", "Springfield Road", "School Lane", "York Road", "Highfield Road",
	"Windsor Road", "Chester Road", "Stanley Road", "North Street", "Richmond Road",
}

type ethnicity struct {
	code string
	desc string
	w    int // per 1000
}

// ethnicities are the NHS Data Dictionary "Ethnic Category" codes (2001
// census classification) with shares from Census 2021, England and Wales,
// rounded, and a "not stated" share typical of GP records.
var ethnicities = []ethnicity{
	{"A", "White - British", 716}, {"B", "White - Irish", 9}, {"C", "White - Any other White background", 62},
	{"D", "Mixed - White and Black Caribbean", 9}, {"E", "Mixed - White and Black African", 4},
	{"F", "Mixed - White and Asian", 8}, {"G", "Mixed - Any other mixed background", 7},
	{"H", "Asian or Asian British - Indian", 31}, {"J", "Asian or Asian British - Pakistani", 27},
	{"K", "Asian or Asian British - Bangladeshi", 11}, {"L", "Asian or Asian British - Any other Asian background", 16},
	{"M", "Black or Black British - Caribbean", 10}, {"N", "Black or Black British - African", 25},
	{"P", "Black or Black British - Any other Black background", 5}, {"R", "Other Ethnic Groups - Chinese", 7},
	{"S", "Other Ethnic Groups - Any other ethnic group", 22}, {"Z", "Not stated", 31},
}

// practiceLetters start GP practice codes (ODS codes: a letter for the
// former regional office, then five digits).
const practiceLetters = "ABCDEFGHJKLMNPY"

// practicePool is how many distinct GP practices a dataset spreads its
// patients over.
const practicePool = 500

// emailDomains are reserved for documentation (RFC 2606, RFC 6761).
var emailDomains = []string{"example.com", "example.org", "example.net", "mail.invalid", "nhs.test"}

var (
	femaleNames  = newWeighted(givenFemale, func(n nameFreq) int { return n.w })
	maleNames    = newWeighted(givenMale, func(n nameFreq) int { return n.w })
	surnames     = newWeighted(familyNames, func(n nameFreq) int { return n.w })
	ages         = newWeighted(agePyramid, func(a ageBand) int { return a.w })
	ethnicChoice = newWeighted(ethnicities, func(e ethnicity) int { return e.w })
)
