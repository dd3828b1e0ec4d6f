"""Bulk customer import from uploaded CSV files (admin back office)."""

import csv
import io
import sys


class ImportReport:
    def __init__(self, filename):
        self.filename = filename
        self.imported = 0
        self.row_errors = {}
        self.fatal = None


class CustomerImporter:
    def __init__(self, db):
        self.db = db
        self.last_report = None

    def parse_row(self, row):
        return {
            "email": row["email"].strip().lower(),
            "name": row["name"].strip(),
            "credit_limit": int(row.get("credit_limit") or 0),
        }

    def import_file(self, filename, data):
        report = ImportReport(filename)
        self.last_report = report
        try:
            reader = csv.DictReader(io.StringIO(data.decode("utf-8")))
            for lineno, row in enumerate(reader, start=2):
                try:
                    self.db.upsert_customer(self.parse_row(row))
                    report.imported += 1
                except (KeyError, ValueError) as exc:
                    self.last_report.row_errors[lineno] = exc  # expect: RL301
        except UnicodeDecodeError:
            self.last_report.fatal = sys.exc_info()  # expect: RL301
        return report


def upload_view(request, db):
    upload = request.files["customers"]
    importer = CustomerImporter(db)
    report = importer.import_file(upload.filename, upload.read())
    return {"imported": report.imported, "errors": len(report.row_errors)}
