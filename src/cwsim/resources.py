"""The ConnectWise resources cwsim serves: paths, fields and how conditions see them.

Field tables name the properties of ConnectWise's own schemas (Company, Contact, Agreement,
AgreementType, Addition, CatalogItem, Company.Configuration, ConfigurationType) with their kind,
required flags, maximum lengths and enums. Properties meterbridge and common clients never touch
are left out; a body that carries them is accepted and they are ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from cwsim.conditions import FieldKind
from cwsim.fields import FieldSpec, parse_field_table, ref_keys

_CYCLES = (
    "Contract2Weeks|Contract4Weeks|ContractYear|CalendarMonth|CalendarQuarter|CalendarWeek|ContractQuarter|CalendarYear"
)
_USER_DEFINED = "\n".join(f"userDefinedField{n} string max=50" for n in range(1, 11))

COMPANY = parse_field_table(
    f"""
    id integer ro
    identifier string req max=156
    name string req max=156
    status ref:CompanyStatus
    addressLine1 string max=50
    addressLine2 string max=50
    city string max=50
    state string max=50
    zip string max=12
    country ref:Country
    phoneNumber string max=30
    faxNumber string max=30
    website string max=255
    territory ref:SystemLocation
    market ref:MarketDescription
    accountNumber string
    defaultContact ref:Contact
    dateAcquired datetime
    sicCode ref:SicCode
    parentCompany ref:Company
    annualRevenue number
    creditLimit number
    numberOfEmployees integer
    yearEstablished integer range=1900..9999
    revenueYear integer range=1900..9999
    ownershipType ref:OwnershipType
    timeZoneSetup ref:TimeZoneSetup
    leadSource string max=50
    leadFlag boolean
    unsubscribeFlag boolean
    {_USER_DEFINED}
    vendorIdentifier string
    taxIdentifier string
    taxCode ref:TaxCode
    billingTerms ref:BillingTerms
    billToCompany ref:Company
    billingSite ref:Site
    billingContact ref:Contact
    invoiceDeliveryMethod ref:BillingDelivery
    invoiceToEmailAddress string
    invoiceCCEmailAddress string
    deletedFlag boolean
    dateDeleted datetime
    deletedBy string
    mobileGuid uuid
    currency ref:Currency
    territoryManager ref:Member
    resellerIdentifier string
    isVendorFlag boolean
    types refs:CompanyType
    site ref:Site
    integratorTags strings
    customFields objects
    """
)

CONTACT = parse_field_table(
    f"""
    id integer ro
    firstName string max=30
    lastName string max=30
    company ref:Company
    site ref:Site
    addressLine1 string max=50
    addressLine2 string max=50
    city string max=50
    state string max=50
    zip string max=12
    country ref:Country
    relationship ref:Relationship
    department ref:ContactDepartment
    inactiveFlag boolean
    title string max=100
    nickName string max=30
    gender string enum=Female|Male
    presence string enum=NoAgent|Online|DoNotDisturb|Away|Offline
    defaultPhoneType string
    defaultPhoneNbr string
    defaultPhoneExtension string
    defaultBillingFlag boolean
    defaultFlag boolean
    {_USER_DEFINED}
    communicationItems objects
    types refs:ContactType
    customFields objects
    """
)

AGREEMENT_TYPE = parse_field_table(
    f"""
    id integer ro
    name string req max=50
    prefixSuffixOption string enum=Prefix|Suffix
    defaultFlag boolean
    inactiveFlag boolean
    prePaymentFlag boolean
    invoicePreSuffix string max=5
    location ref:SystemLocation
    department ref:SystemDepartment
    applicationUnits string enum=Amount|Hours|Incidents
    applicationLimit number
    applicationCycle string enum={_CYCLES}
    applicationUnlimitedFlag boolean
    oneTimeFlag boolean
    coverAgreementTimeFlag boolean
    coverAgreementProductFlag boolean
    coverAgreementExpenseFlag boolean
    coverSalesTaxFlag boolean
    employeeCompRate string req enum=Actual|Hourly
    employeeCompNotExceed string req enum=Billing|Amount|Percent
    billingCycle ref:BillingCycle
    billingTerms ref:BillingTerms
    invoicingCycle string req enum=ContractYear|CalendarYear
    billAmount number
    taxableFlag boolean
    invoiceDescription string max=4000
    billTime string req enum=Billable|DoNotBill|NoCharge|NoDefault
    billExpenses string req enum=Billable|DoNotBill|NoCharge|NoDefault
    billProducts string req enum=Billable|DoNotBill|NoCharge|NoDefault
    integrationXRef string max=50
    prorateFlag boolean
    autoInvoiceFlag boolean
    billZeroAmountFlag boolean
    invoiceProratedAdditionsFlag boolean
    """
)

AGREEMENT = parse_field_table(
    f"""
    id integer ro
    name string req max=100
    type ref:AgreementType req
    company ref:Company req
    contact ref:Contact req
    site ref:Site
    subContractCompany ref:Company
    subContractContact ref:Contact
    parentAgreement ref:Agreement
    customerPO string max=50
    location ref:SystemLocation
    department ref:SystemDepartment
    startDate datetime
    endDate datetime
    noEndingDateFlag boolean
    cancelledFlag boolean
    dateCancelled datetime
    reasonCancelled string max=100
    sla ref:SLA
    workOrder string max=20
    internalNotes string
    applicationUnits string enum=Amount|Hours|Incidents
    applicationLimit number
    applicationCycle string enum={_CYCLES}
    applicationUnlimitedFlag boolean
    oneTimeFlag boolean
    coverAgreementTime boolean
    coverAgreementProduct boolean
    coverAgreementExpense boolean
    coverSalesTax boolean
    employeeCompRate string upd enum=Actual|Hourly
    employeeCompNotExceed string enum=Billing|Amount|Percent
    billingCycle ref:BillingCycle
    billOneTimeFlag boolean
    billingTerms ref:BillingTerms
    invoicingCycle string upd enum=ContractYear|CalendarYear
    billToCompany ref:Company
    billToContact ref:Contact
    billToSite ref:Site
    billAmount number
    taxable boolean
    billStartDate datetime
    taxCode ref:TaxCode
    prorateFlag boolean
    invoiceProratedAdditionsFlag boolean
    invoiceDescription string
    billTime string upd enum=Billable|DoNotBill|NoCharge|NoDefault
    billExpenses string upd enum=Billable|DoNotBill|NoCharge|NoDefault
    billProducts string upd enum=Billable|DoNotBill|NoCharge|NoDefault
    currency ref:Currency
    periodType string enum=Current|Future|Both|Undefined
    autoInvoiceFlag boolean
    billZeroAmountFlag boolean
    nextInvoiceDate string
    agreementStatus string ro enum=Active|Cancelled|Expired|Inactive
    customFields objects
    """
)

ADDITION = parse_field_table(
    """
    id integer ro
    product ref:IvItem req
    quantity number
    lessIncluded number
    unitPrice number
    unitCost number
    billCustomer string req enum=Billable|DoNotBill|NoCharge
    effectiveDate datetime
    cancelledDate datetime
    taxableFlag boolean
    serialNumber string max=50
    invoiceDescription string max=6000
    purchaseItemFlag boolean
    specialOrderFlag boolean
    agreementId integer ro
    description string ro
    billedQuantity number ro
    uom string ro
    extPrice number ro
    extCost number ro
    sequenceNumber number
    margin number ro
    prorateCost number ro
    proratePrice number ro
    extendedProrateCost number ro
    extendedProratePrice number ro
    prorateCurrentPeriodFlag boolean
    opportunity ref:Opportunity
    agreementStatus string ro enum=Active|Cancelled|Expired|Inactive
    invoiceGrouping ref:InvoiceGrouping
    customFields objects
    """
)

CATALOG_ITEM = parse_field_table(
    """
    id integer ro
    identifier string req max=75
    description string req max=60
    inactiveFlag boolean
    subcategory ref:ProductSubCategory req
    type ref:ProductType req
    productClass string enum=Agreement|Bundle|Inventory|NonInventory|Service
    serializedFlag boolean
    serializedCostFlag boolean
    phaseProductFlag boolean
    unitOfMeasure ref:UnitOfMeasure
    minStockLevel integer
    price number
    cost number
    priceAttribute string enum=FixedFee|NotToExceed|OverrideRate|TimeAndMaterials
    taxableFlag boolean
    dropShipFlag boolean
    specialOrderFlag boolean
    customerDescription string req max=6000
    manufacturer ref:Manufacturer
    manufacturerPartNumber string max=50
    vendor ref:Company
    vendorSku string max=50
    notes string
    integrationXRef string max=50
    recurringFlag boolean
    recurringRevenue number
    recurringCost number
    recurringOneTimeFlag boolean
    recurringBillCycle ref:BillingCycle
    recurringCycleType string enum=ContractYear|CalendarYear
    category ref:ProductCategory
    billableOption string enum=Billable|DoNotBill|NoCharge|NoDefault
    agreementType ref:AgreementType
    customFields objects
    """
)

CONFIGURATION_TYPE = parse_field_table(
    """
    id integer ro
    name string req max=50
    inactiveFlag boolean
    systemFlag boolean
    """
)

CONFIGURATION = parse_field_table(
    """
    id integer ro
    name string req max=100
    type ref:ConfigurationType req
    status ref:ConfigurationStatus
    company ref:Company req
    contact ref:Contact
    site ref:Site
    locationId integer
    businessUnitId integer
    deviceIdentifier string max=100
    serialNumber string max=250
    modelNumber string max=50
    tagNumber string max=50
    purchaseDate datetime
    installationDate datetime
    warrantyExpirationDate datetime
    vendorNotes string
    notes string
    macAddress string max=25
    lastLoginName string max=100
    billFlag boolean
    backupSuccesses integer
    backupIncomplete integer
    backupFailed integer
    backupRestores integer
    lastBackupDate datetime
    backupServerName string max=50
    backupBillableSpaceGb number
    backupProtectedDeviceList string
    backupYear integer
    backupMonth integer
    ipAddress string max=50
    osType string max=250
    osInfo string max=250
    parentConfigurationId integer
    vendor ref:Company
    manufacturer ref:Manufacturer
    activeFlag boolean
    managementLink string max=1000
    remoteLink string max=1000
    manufacturerPartNumber string max=50
    customFields objects
    """
)

#: An agreement's invoice (read-only here: cwsim makes invoices by invoicing agreements, invoicing.py).
INVOICE = parse_field_table(
    """
    id integer ro
    invoiceNumber string
    type string req enum=Agreement|CreditMemo|DownPayment|Miscellaneous|Progress|Standard|Consolidated
    status ref:BillingStatus
    company ref:Company req
    billToCompany ref:Company
    applyToType string enum=All|Agreement|Project|ProjectPhase|SalesOrder|Ticket
    applyToId integer
    agreement ref:Agreement
    date datetime
    dueDate datetime
    topComment string
    productTotal number
    serviceTotal number
    expenseTotal number
    agreementAmount number
    subtotal number
    salesTax number
    total number
    payments number
    credits number
    balance number
    """
)

#: Conditions may name these as top-level fields; they live in ``_info``.
INFO_FIELDS: dict[str, FieldKind] = {
    "lastupdated": "datetime",
    "dateentered": "datetime",
    "updatedby": "string",
    "enteredby": "string",
}
_KIND_FOR_CONDITIONS: dict[str, FieldKind] = {
    "string": "string",
    "uuid": "string",
    "integer": "integer",
    "number": "number",
    "boolean": "boolean",
    "datetime": "datetime",
}


@dataclass(frozen=True)
class Resource:
    """One ConnectWise collection. ``parent`` names the collection of a child's parent."""

    key: str
    path: str
    object_name: str
    fields: Mapping[str, FieldSpec]
    parent: str | None = None
    parent_field: str | None = None
    forward_only: bool = True
    read_only: bool = False  # served for GET only (cwsim makes the records itself)
    hidden: tuple[str, ...] = ()  # cwsim's own fields of a record, never in ConnectWise's answers
    _lower: dict[str, FieldSpec] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._lower.update({name.lower(): spec for name, spec in self.fields.items()})

    def spec(self, name: str) -> FieldSpec | None:
        return self._lower.get(name.lower())

    def lookup(self, path: tuple[str, ...]) -> tuple[tuple[str, ...], FieldKind] | None:
        """Where a conditions/orderBy field path lives in a record, and its kind."""
        if not path:
            return None
        if path[0] == "_info" and len(path) == 2 and path[1] in INFO_FIELDS:
            return ("_info", _canonical_info(path[1])), INFO_FIELDS[path[1]]
        spec = self.spec(path[0])
        if spec is None:
            if len(path) == 1 and path[0] in INFO_FIELDS:
                return ("_info", _canonical_info(path[0])), INFO_FIELDS[path[0]]
            return None
        if spec.kind in _KIND_FOR_CONDITIONS and len(path) == 1:
            return (spec.name,), _KIND_FOR_CONDITIONS[spec.kind]
        if spec.kind == "ref" and len(path) == 2:
            keys = ref_keys(spec.ref)
            for key, kind in keys.items():
                if key.lower() == path[1]:
                    return (spec.name, key), _KIND_FOR_CONDITIONS[kind]
        return None


def _canonical_info(lowered: str) -> str:
    return {
        "lastupdated": "lastUpdated",
        "dateentered": "dateEntered",
        "updatedby": "updatedBy",
        "enteredby": "enteredBy",
    }[lowered]


RESOURCES: tuple[Resource, ...] = (
    Resource("companies", "company/companies", "company", COMPANY),
    Resource("contacts", "company/contacts", "contact", CONTACT),
    Resource("configurationTypes", "company/configurations/types", "configurationType", CONFIGURATION_TYPE),
    Resource("configurations", "company/configurations", "configuration", CONFIGURATION),
    Resource("agreementTypes", "finance/agreements/types", "agreementType", AGREEMENT_TYPE),
    Resource("agreements", "finance/agreements", "agreement", AGREEMENT),
    Resource(
        "additions",
        "finance/agreements/{parentId}/additions",
        "addition",
        ADDITION,
        parent="agreements",
        parent_field="agreementId",
    ),
    Resource("catalog", "procurement/catalog", "catalogItem", CATALOG_ITEM),
    Resource("invoices", "finance/invoices", "invoice", INVOICE, read_only=True, hidden=("period", "lines")),
)
BY_KEY: dict[str, Resource] = {resource.key: resource for resource in RESOURCES}
