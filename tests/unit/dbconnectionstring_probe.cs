using System;
using System.Data.Common;
using System.IO;
using System.Text;
// Reads connection strings (one per line, base64) and prints, per line, either ERROR or the pairs
// as base64(key):base64(value) joined with spaces, in the builder's order.
class Probe {
    static string B(string s) { return Convert.ToBase64String(Encoding.UTF8.GetBytes(s)); }
    static void Main() {
        string line;
        while ((line = Console.In.ReadLine()) != null) {
            var text = Encoding.UTF8.GetString(Convert.FromBase64String(line));
            try {
                var b = new DbConnectionStringBuilder { ConnectionString = text };
                var sb = new StringBuilder("OK");
                foreach (string k in b.Keys) { sb.Append(' ').Append(B(k)).Append(':').Append(B(b[k].ToString())); }
                Console.WriteLine(sb.ToString());
            } catch (ArgumentException) { Console.WriteLine("ERROR"); }
        }
    }
}
