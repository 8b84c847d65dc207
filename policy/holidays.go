package policy

import (
	"github.com/rickar/cal/v2"
	"github.com/rickar/cal/v2/ar"
	"github.com/rickar/cal/v2/at"
	"github.com/rickar/cal/v2/au"
	"github.com/rickar/cal/v2/be"
	"github.com/rickar/cal/v2/bg"
	"github.com/rickar/cal/v2/br"
	"github.com/rickar/cal/v2/ca"
	"github.com/rickar/cal/v2/ch"
	"github.com/rickar/cal/v2/cz"
	"github.com/rickar/cal/v2/de"
	"github.com/rickar/cal/v2/dk"
	"github.com/rickar/cal/v2/es"
	"github.com/rickar/cal/v2/fr"
	"github.com/rickar/cal/v2/gb"
	"github.com/rickar/cal/v2/gr"
	"github.com/rickar/cal/v2/hr"
	"github.com/rickar/cal/v2/ie"
	"github.com/rickar/cal/v2/it"
	"github.com/rickar/cal/v2/jp"
	"github.com/rickar/cal/v2/lt"
	"github.com/rickar/cal/v2/lv"
	"github.com/rickar/cal/v2/nl"
	"github.com/rickar/cal/v2/no"
	"github.com/rickar/cal/v2/nz"
	"github.com/rickar/cal/v2/pl"
	"github.com/rickar/cal/v2/ro"
	"github.com/rickar/cal/v2/ru"
	"github.com/rickar/cal/v2/se"
	"github.com/rickar/cal/v2/si"
	"github.com/rickar/cal/v2/sk"
	"github.com/rickar/cal/v2/ua"
	"github.com/rickar/cal/v2/us"
	"github.com/rickar/cal/v2/za"
)

// holidayTable maps an ISO 3166-1 alpha-2 country and an optional region
// (ISO 3166-2 subdivision code without the country prefix, "" for the
// national list) to the public holidays rickar/cal knows for it. A country
// or region not in this table is refused by Validate rather than silently
// given no holidays.
var holidayTable = map[string]map[string][]*cal.Holiday{
	"AR": {"": ar.Holidays},
	"AT": {"": at.Holidays},
	"AU": {
		"ACT": au.HolidaysACT, "NSW": au.HolidaysNSW, "NT": au.HolidaysNT, "QLD": au.HolidaysQLD,
		"SA": au.HolidaysSA, "TAS": au.HolidaysTAS, "VIC": au.HolidaysVIC, "WA": au.HolidaysWA,
	},
	"BE": {"": be.Holidays},
	"BG": {"": bg.Holidays},
	"BR": {"": br.Holidays},
	"CA": {"": ca.Holidays},
	"CH": {
		"":   ch.Holidays,
		"ZH": ch.HolidaysZH, "BE": ch.HolidaysBE, "LU": ch.HolidaysLU, "UR": ch.HolidaysUR,
		"SZ": ch.HolidaysSZ, "OW": ch.HolidaysOW, "NW": ch.HolidaysNW, "GL": ch.HolidaysGL,
		"ZG": ch.HolidaysZG, "FR": ch.HolidaysFR, "SO": ch.HolidaysSO, "BS": ch.HolidaysBS,
		"BL": ch.HolidaysBL, "SH": ch.HolidaysSH, "AR": ch.HolidaysAR, "AI": ch.HolidaysAI,
		"SG": ch.HolidaysSG, "GR": ch.HolidaysGR, "AG": ch.HolidaysAG, "TG": ch.HolidaysTG,
		"VD": ch.HolidaysVD, "TI": ch.HolidaysTI, "VS": ch.HolidaysVS, "NE": ch.HolidaysNE,
		"GE": ch.HolidaysGE, "JU": ch.HolidaysJU,
	},
	"CZ": {"": cz.Holidays},
	"DE": {
		"":   de.Holidays,
		"BW": de.HolidaysBW, "BY": de.HolidaysBY, "BE": de.HolidaysBE, "BB": de.HolidaysBB,
		"HB": de.HolidaysHB, "HH": de.HolidaysHH, "HE": de.HolidaysHE, "MV": de.HolidaysMV,
		"NI": de.HolidaysNI, "NW": de.HolidaysNW, "RP": de.HolidaysRP, "SL": de.HolidaysSL,
		"SN": de.HolidaysSN, "ST": de.HolidaysST, "SH": de.HolidaysSH, "TH": de.HolidaysTH,
	},
	"DK": {"": dk.Holidays},
	"ES": {"": es.Holidays},
	"FR": {"": fr.Holidays},
	"GB": {"": gb.Holidays},
	"GR": {"": gr.Holidays},
	"HR": {"": hr.Holidays},
	"IE": {"": ie.Holidays},
	"IT": {"": it.Holidays},
	"JP": {"": jp.Holidays},
	"LT": {"": lt.Holidays},
	"LV": {"": lv.Holidays},
	"NL": {"": nl.Holidays},
	"NO": {"": no.Holidays},
	"NZ": {"": nz.Holidays},
	"PL": {"": pl.Holidays},
	"RO": {"": ro.Holidays},
	"RU": {"": ru.Holidays},
	"SE": {"": se.Holidays},
	"SI": {"": si.Holidays},
	"SK": {"": sk.Holidays},
	"UA": {"": ua.Holidays},
	"US": {"": us.Holidays},
	"ZA": {"": za.Holidays},
}
