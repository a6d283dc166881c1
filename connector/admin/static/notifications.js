// The notifications page: how mail leaves (the outbound connection), what customers are told
// (notification settings), and what happened (Jira events received, mail sent).

import { wireNavigation } from "./app.js";
import { startAudit } from "./outbound-audit.js";
import { startConnection } from "./outbound-connection.js";
import { startSettings } from "./notification-settings.js";

wireNavigation();
startConnection();
startSettings();
startAudit();
