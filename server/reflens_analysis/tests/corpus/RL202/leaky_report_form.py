"""Report forms for an admin dashboard: each field widget knows its form."""


class FieldWidget:
    def __init__(self, form, name, label, required=False):
        self.form = form
        self.name = name
        self.label = label
        self.required = required
        self.errors = []

    @property
    def value(self):
        return self.form.data.get(self.name)

    def validate(self):
        self.errors = []
        if self.required and not self.value:
            self.errors.append(f"{self.label} is required")
        return not self.errors

    def render(self):
        value = self.value or ""
        return f'<label>{self.label}<input name="{self.name}" value="{value}"></label>'


class ReportForm:
    def __init__(self, data, columns):
        self.data = data
        self.fields = {}
        self.title = FieldWidget(self, "title", "Title", required=True)
        for column in columns:
            self.fields[column] = FieldWidget(self, column, column.title())  # expect: RL202

    def is_valid(self):
        widgets = [self.title, *self.fields.values()]
        return all([widget.validate() for widget in widgets])

    def render(self):
        parts = [self.title.render()]
        parts.extend(widget.render() for widget in self.fields.values())
        return "\n".join(parts)


def handle_report_request(request, columns):
    form = ReportForm(request.POST, columns)
    if not form.is_valid():
        return {"status": 400, "body": form.render()}
    return {"status": 200, "body": "saved"}
