// "My contacts": every console user (manager, on-call, admin) keeps their own alert contacts here, through
// the same API and form admins use on the users page; the server's reasons show inline under the form.
import { h, me, t } from "./dom.js";
import { contactsForm } from "./console-admin.js";

export async function meView(root) {
  root.replaceChildren(h("h1", {}, t("me.title")), h("p", { class: "muted" }, t("me.hint")), await contactsForm(me));
}
